// The two dense parts of attention for one KV head and the query heads that
// share it (GQA): scores of a few query rows against a run of keys, and the
// probability-weighted sum of the value rows. Keys and values are read once
// for all rows of the group. Every output is a sequential sum in a fixed
// order (over the head dimension for a score, over key positions for an
// output element), so a row's result never depends on which other rows or
// keys are computed with it.
#pragma once
#include <cstdint>

namespace lineage {

constexpr int kAttnMaxRows = 8;  // query rows per call

struct AttnKernels {
  // s[r * s_stride + j] = scale * dot(q[r], k + j * d) for r < nq (any
  // count: each block of keys is transposed once for all rows), j < n_keys.
  void (*scores)(const float* const* q, int nq, const float* k, int64_t n_keys, int d, float scale, float* s,
                 int64_t s_stride);
  // In place: row[j] = exp(row[j] - max) / sum over the row, j < n.
  void (*softmax)(float* row, int64_t n);
  // out[r * o_stride + i] = sum over j < n_keys of p[r * p_stride + j] * v[j * d + i],
  // r < nq <= kAttnMaxRows.
  void (*values)(const float* p, int64_t p_stride, int nq, const float* v, int64_t n_keys, int d, float* out,
                 int64_t o_stride);
};

// The kernels of the active instruction set (kernels/type_traits.h).
const AttnKernels& attn_kernels();

const AttnKernels& attn_kernels_avx2();
const AttnKernels& attn_kernels_avx512();

}  // namespace lineage
