// A weight matrix viewed in place (usually inside the mmap'd model file):
// `rows` rows of `cols` elements each, stored row after row in `type`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/dtype.h"

namespace lineage {

class PackedMatrix;
class ThreadPool;

struct Matrix {
  const void* data = nullptr;
  DType type = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  // The same weights rearranged for the matrix kernels, when the type has
  // such a layout and prepack() was called; data stays valid either way.
  std::shared_ptr<const PackedMatrix> packed{};

  size_t row_bytes() const { return dtype_row_bytes(type, cols); }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes(); }
};

// y[t * m.rows + r] = dot(row r of m, x[t * m.cols ...]) for t < n.
void apply(const Matrix& m, const float* x, int64_t n, float* y, ThreadPool& pool);

// Packs m's weights once for the matrix kernels (no-op for types without a
// packed layout, or when LINEAGE_REPACK=0). from_file_map: m.data lies in a
// read-only file mapping, whose pages may then be released. Returns the
// bytes the packed copy holds.
size_t prepack(Matrix& m, bool from_file_map);

}  // namespace lineage
