// Small float vector helpers shared by the blocks, written so GCC
// vectorizes them without -ffast-math: sums run in a fixed order per
// output element, so a result never depends on batch size.
#pragma once
#include <cstdint>

namespace lineage {

// y[i] += a * x[i]
inline void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// out[i] = sum over j in [first, last] of w[j] * rows[j * n + i]. Columns
// go in chunks of 16 whose sums stay in registers across all rows, instead
// of storing the output back after every row.
inline void weighted_row_sum(const float* w, const float* rows, int64_t first, int64_t last, int64_t n, float* out) {
  constexpr int kChunk = 16;
  int64_t c = 0;
  for (; c + kChunk <= n; c += kChunk) {
    float acc[kChunk] = {};
    for (int64_t j = first; j <= last; ++j) {
      const float* r = rows + j * n + c;
      const float wj = w[j];
      for (int l = 0; l < kChunk; ++l) acc[l] += wj * r[l];
    }
    for (int l = 0; l < kChunk; ++l) out[c + l] = acc[l];
  }
  for (; c < n; ++c) {
    float acc = 0;
    for (int64_t j = first; j <= last; ++j) acc += w[j] * rows[j * n + c];
    out[c] = acc;
  }
}

// y[i] += x[i]
inline void add_f32(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace lineage
