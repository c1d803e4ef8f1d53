// A weight matrix viewed in place (usually inside the mmap'd model file):
// `rows` rows of `cols` elements each, stored row after row in `type`.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace lineage {

class ThreadPool;

struct Matrix {
  const void* data = nullptr;
  DType type = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;

  size_t row_bytes() const { return dtype_row_bytes(type, cols); }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes(); }
};

// y[t * m.rows + r] = dot(row r of m, x[t * m.cols ...]) for t < n.
void apply(const Matrix& m, const float* x, int64_t n, float* y, ThreadPool& pool);

}  // namespace lineage
