#include "runtime/kv_cache.h"

#include <unistd.h>

#include <new>

#include "core/error.h"

namespace lineage {

KVCache::KVCache(const ModelConfig& config, int n_ctx) : n_ctx_(n_ctx), head_dim_(config.head_dim) {
  if (n_ctx <= 0) fail("KV cache: context length must be positive, got ", n_ctx);
  double total = 0;
  for (int l = 0; l < config.n_layer; ++l) total += 2.0 * n_ctx * config.n_head_kv[l] * config.head_dim * sizeof(float);
  // Linux grants almost any allocation and kills the process later, when
  // the pages are touched; refuse up front what cannot fit in memory.
  const double phys = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (phys > 0 && total > phys)
    fail("KV cache: a context of ", n_ctx, " positions needs ", static_cast<long long>(total / (1 << 20)),
         " MiB, more than this machine's ", static_cast<long long>(phys / (1 << 20)), " MiB (lower --ctx-size)");
  try {
    layers_.resize(config.n_layer);
    for (int l = 0; l < config.n_layer; ++l) {
      const size_t n = static_cast<size_t>(n_ctx) * config.n_head_kv[l] * config.head_dim;
      layers_[l].n_head_kv = config.n_head_kv[l];
      layers_[l].k.resize(n);
      layers_[l].v.resize(n);
    }
  } catch (const std::bad_alloc&) {
    fail("KV cache: cannot allocate ", total / (1024.0 * 1024.0), " MiB for a context of ", n_ctx, " positions");
  }
}

size_t KVCache::bytes() const {
  size_t b = 0;
  for (const Layer& l : layers_) b += (l.k.size() + l.v.size()) * sizeof(float);
  return b;
}

void KVCache::truncate(int n) {
  if (n < 0) fail("KV cache: cannot truncate to ", n, " positions");
  if (n < n_past_) n_past_ = n;
}

void KVCache::set_n_past(int n) {
  if (n < 0 || n > n_ctx_) fail("KV cache: ", n, " positions do not fit a context of ", n_ctx_);
  n_past_ = n;
}

}  // namespace lineage
