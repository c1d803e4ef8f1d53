#include "nn/attention.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "kernels/type_traits.h"
#include "nn/vec.h"

namespace lineage {

namespace {

// One query row against the visible keys of its KV head. The q.k dots go
// through the F32 kernel of the active ISA: portable code gets only SSE2,
// and these dots are most of the attention time at long contexts.
void attend_one(const AttentionShape& s, VecDotFn dot, const float* qh, const float* kh, const float* vh,
                int64_t first, int64_t last, float* scores, float* oh) {
  const int64_t d = s.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  float mx = -INFINITY;
  for (int64_t j = first; j <= last; ++j) {
    float sc;
    dot(d, &sc, kh + j * d, qh);
    sc *= scale;
    scores[j] = sc;
    mx = std::max(mx, sc);
  }
  float sum = 0;
  for (int64_t j = first; j <= last; ++j) {
    const float e = std::exp(scores[j] - mx);
    scores[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (int64_t j = first; j <= last; ++j) scores[j] *= inv;
  weighted_row_sum(scores, vh, first, last, d, oh);
}

}  // namespace

void attention(const AttentionShape& s, const float* q, const float* k, const float* v, int64_t n_ctx, int64_t pos0,
               int64_t n, float* out, float* scores, ThreadPool& pool) {
  const int64_t d = s.head_dim;
  const int64_t q_stride = static_cast<int64_t>(s.n_head) * d;
  const int group = s.n_head / s.n_head_kv;
  const int64_t n_items = static_cast<int64_t>(s.n_head) * n;
  const int64_t n_keys = pos0 + n;
  const VecDotFn dot = type_traits(DType::F32)->vec_dot;

  // Items are ordered head-major so a thread walks one KV head's keys for
  // consecutive tokens while they are still in cache.
  auto work = [&](int ith, int nth) {
    float* sc = scores + static_cast<int64_t>(ith) * n_keys;
    const int64_t begin = n_items * ith / nth, end = n_items * (ith + 1) / nth;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t h = item / n, t = item % n;
      const int64_t kvh = h / group;
      const int64_t i = pos0 + t;
      const int64_t first = s.sliding_window > 0 ? std::max<int64_t>(0, i - s.sliding_window + 1) : 0;
      attend_one(s, dot, q + t * q_stride + h * d, k + kvh * n_ctx * d, v + kvh * n_ctx * d, first, i, sc,
                 out + t * q_stride + h * d);
    }
  };
  // Waking the pool costs a few microseconds; below this much work the
  // caller alone is faster.
  const int64_t flops = n_items * n_keys * d;
  if (pool.size() == 1 || flops < (1 << 16))
    work(0, 1);
  else
    pool.run(work);
}

}  // namespace lineage
