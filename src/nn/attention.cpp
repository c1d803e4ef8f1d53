// Each work item is a block of tokens and up to kAttnMaxRows query heads that
// share a KV head: their scores come from one pass over the visible keys and
// each token's outputs from one pass over the values
// (kernels/attention_kernels.h), so the cache is read once per KV head
// instead of once per query head.
#include "nn/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/attention_kernels.h"

namespace lineage {

namespace {

// Tokens whose query rows share each transposed block of keys.
constexpr int64_t kTokenBlock = 8;

thread_local std::vector<float> tls_scores;

}  // namespace

void attention(const AttentionShape& s, const float* q, const float* k, const float* v, int64_t n_ctx, int64_t pos0,
               int64_t n, float* out, float* /*scores*/, ThreadPool& pool) {
  const AttentionSeq one{q, k, v, n_ctx, pos0, n, out};
  attention_multi(s, &one, 1, pool);
}

void attention_multi(const AttentionShape& s, const AttentionSeq* seqs, int n_seqs, ThreadPool& pool) {
  const int64_t d = s.head_dim;
  const int64_t q_stride = static_cast<int64_t>(s.n_head) * d;
  const int group = s.n_head / s.n_head_kv;
  const int chunks = (group + kAttnMaxRows - 1) / kAttnMaxRows;  // head chunks per KV head
  const int64_t per_block = static_cast<int64_t>(s.n_head_kv) * chunks;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const AttnKernels& kern = attn_kernels();
  auto first_of = [&](int64_t i) { return s.sliding_window > 0 ? std::max<int64_t>(0, i - s.sliding_window + 1) : 0; };

  // Items of sequence j are [item0[j], item0[j + 1]).
  std::vector<int64_t> item0(static_cast<size_t>(n_seqs) + 1, 0);
  int64_t flops = 0;
  for (int j = 0; j < n_seqs; ++j) {
    const int64_t n_blocks = (seqs[j].n + kTokenBlock - 1) / kTokenBlock;
    item0[j + 1] = item0[j] + per_block * n_blocks;
    flops += static_cast<int64_t>(s.n_head) * seqs[j].n * (seqs[j].pos0 + seqs[j].n) * d;
  }
  const int64_t n_items = item0[n_seqs];

  // One item: up to kAttnMaxRows heads of one KV head for a block of
  // tokens. Scores are computed over the union of the block's visible keys;
  // each row then uses only its own range, so its result is the one it
  // would get alone.
  auto item = [&](int64_t global) {
    const int j = static_cast<int>(std::upper_bound(item0.begin(), item0.end(), global) - item0.begin()) - 1;
    const AttentionSeq& a = seqs[j];
    const int64_t it = global - item0[j];
    const int64_t n = a.n, pos0 = a.pos0, n_blocks = (n + kTokenBlock - 1) / kTokenBlock;
    // Latest tokens first: they see the most keys, and dynamic hand-out
    // then ends with the cheap items, so the threads finish together.
    const int64_t blk = n_blocks - 1 - it / per_block;
    const int64_t rest = it % per_block;
    const int g = static_cast<int>(rest / chunks);
    const int h0 = g * group + static_cast<int>(rest % chunks) * kAttnMaxRows;
    const int nh = std::min(kAttnMaxRows, (g + 1) * group - h0);
    const int64_t t0 = blk * kTokenBlock, t1 = std::min(n, t0 + kTokenBlock);
    const int64_t lo = first_of(pos0 + t0), hi = pos0 + t1 - 1;  // union of visible keys
    const int64_t len = hi - lo + 1;
    const int nrows = static_cast<int>((t1 - t0) * nh);
    if (tls_scores.size() < static_cast<size_t>(nrows * len)) tls_scores.resize(static_cast<size_t>(nrows * len));
    float* sc = tls_scores.data();
    const float* rows[kTokenBlock * kAttnMaxRows];
    for (int64_t t = t0; t < t1; ++t)
      for (int h = 0; h < nh; ++h) rows[(t - t0) * nh + h] = a.q + t * q_stride + static_cast<int64_t>(h0 + h) * d;
    const float* kh = a.k + static_cast<int64_t>(g) * a.n_ctx * d;
    const float* vh = a.v + static_cast<int64_t>(g) * a.n_ctx * d;
    kern.scores(rows, nrows, kh + lo * d, len, static_cast<int>(d), scale, sc, len);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = pos0 + t, first = first_of(i), n_keys = i - first + 1;
      float* p = sc + (t - t0) * nh * len + (first - lo);
      for (int h = 0; h < nh; ++h) kern.softmax(p + h * len, n_keys);
      kern.values(p, len, nh, vh + first * d, n_keys, static_cast<int>(d),
                  a.out + t * q_stride + static_cast<int64_t>(h0) * d, d);
    }
  };

  // Waking the pool costs a few microseconds; below this much work the
  // caller alone is faster.
  if (pool.size() == 1 || flops < (1 << 16) || n_items == 1) {
    for (int64_t it = 0; it < n_items; ++it) item(it);
    return;
  }
  std::atomic<int64_t> next{0};
  pool.run([&](int, int) {
    for (;;) {
      const int64_t it = next.fetch_add(1, std::memory_order_relaxed);
      if (it >= n_items) return;
      item(it);
    }
  });
}

}  // namespace lineage
