#include "runtime/kv_cache.h"

#include <unistd.h>

#include <cstring>
#include <new>

#include "core/error.h"
#include "kernels/device.h"
#include "model/model.h"

namespace lineage {

KVCache::KVCache(const ModelConfig& config, int n_ctx) : n_ctx_(n_ctx), head_dim_(config.head_dim) {
  allocate(config, config.n_layer);
}

KVCache::KVCache(const Model& model, int n_ctx) : n_ctx_(n_ctx), head_dim_(model.config().head_dim) {
  const DevicePlacement p = model.placement();
  device_ = p.device;
  allocate(model.config(), device_ ? p.first_layer : model.config().n_layer);
}

KVCache::~KVCache() {
  if (device_kv_) device_->free(device_kv_);
}

void KVCache::allocate(const ModelConfig& config, int first_device) {
  if (n_ctx_ <= 0) fail("KV cache: context length must be positive, got ", n_ctx_);
  first_device_ = first_device;
  double total = 0;
  for (int l = 0; l < first_device; ++l) total += 2.0 * n_ctx_ * config.n_head_kv[l] * config.head_dim * sizeof(float);
  // Linux grants almost any allocation and kills the process later, when
  // the pages are touched; refuse up front what cannot fit in memory.
  const double phys = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (phys > 0 && total > phys)
    fail("KV cache: a context of ", n_ctx_, " positions needs ", static_cast<long long>(total / (1 << 20)),
         " MiB, more than this machine's ", static_cast<long long>(phys / (1 << 20)), " MiB (lower --ctx-size)");
  try {
    layers_.resize(config.n_layer);
    for (int l = 0; l < config.n_layer; ++l) {
      layers_[l].n_head_kv = config.n_head_kv[l];
      if (l >= first_device) continue;
      const size_t n = static_cast<size_t>(n_ctx_) * config.n_head_kv[l] * config.head_dim;
      layers_[l].k.resize(n);
      layers_[l].v.resize(n);
    }
  } catch (const std::bad_alloc&) {
    fail("KV cache: cannot allocate ", total / (1024.0 * 1024.0), " MiB for a context of ", n_ctx_, " positions");
  }
  if (!device_ || first_device >= config.n_layer) return;
  size_t heads = 0;
  for (int l = first_device; l < config.n_layer; ++l) heads += static_cast<size_t>(config.n_head_kv[l]);
  // F16 keys and values (2 bytes each), K and V per head and position.
  device_bytes_ = 2 * 2 * heads * static_cast<size_t>(n_ctx_) * static_cast<size_t>(config.head_dim);
  try {
    device_kv_ = device_->alloc(device_bytes_);
  } catch (const Error& e) {
    fail("KV cache: a context of ", n_ctx_, " positions needs ", device_bytes_ >> 20, " MiB on ", device_->name(),
         " (lower --ctx-size or --parallel): ", e.what());
  }
  // Never-written positions are never read, but zeros keep a stray read
  // harmless instead of a NaN.
  device_->fill_zero(device_kv_, device_bytes_);
}

size_t KVCache::bytes() const {
  size_t b = device_bytes_;
  for (const Layer& l : layers_) b += (l.k.size() + l.v.size()) * sizeof(float);
  return b;
}

size_t KVCache::device_bytes() const { return device_bytes_; }

void KVCache::truncate(int n) {
  if (n < 0) fail("KV cache: cannot truncate to ", n, " positions");
  if (n < n_past_) n_past_ = n;
}

void KVCache::set_n_past(int n) {
  if (n < 0 || n > n_ctx_) fail("KV cache: ", n, " positions do not fit a context of ", n_ctx_);
  n_past_ = n;
}

void KVCache::copy_positions(const KVCache& src, int from, int to) {
  if (src.n_ctx_ != n_ctx_ || src.head_dim_ != head_dim_ || src.n_layer() != n_layer() ||
      src.first_device_ != first_device_ || src.device_ != device_)
    fail("KV cache: cannot copy between caches of different shapes");
  if (from < 0 || to > src.n_past_ || from > to) fail("KV cache: cannot copy positions ", from, "..", to);
  const size_t d = static_cast<size_t>(head_dim_);
  size_t heads_before = 0;
  for (int l = 0; l < n_layer(); ++l) {
    const int nh = layers_[l].n_head_kv;
    for (int h = 0; h < nh; ++h) {
      const size_t at = (static_cast<size_t>(h) * n_ctx_ + from) * d, len = (to - from) * d;
      if (l < first_device_) {
        std::memcpy(layers_[l].k.data() + at, src.layers_[l].k.data() + at, len * sizeof(float));
        std::memcpy(layers_[l].v.data() + at, src.layers_[l].v.data() + at, len * sizeof(float));
      } else {
        // Device layout (kernels/device.h): per layer K then V, 2-byte values.
        const size_t k_at = 2 * d * n_ctx_ * heads_before + at, v_at = k_at + nh * n_ctx_ * d;
        uint16_t* dk = static_cast<uint16_t*>(device_kv_);
        const uint16_t* sk = static_cast<const uint16_t*>(src.device_kv_);
        device_->copy(dk + k_at, sk + k_at, len * 2);
        device_->copy(dk + v_at, sk + v_at, len * 2);
      }
    }
    if (l >= first_device_) heads_before += static_cast<size_t>(nh);
  }
  set_n_past(to);
}

}  // namespace lineage
