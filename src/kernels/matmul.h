// Matrix products of a weight matrix (rows of `cols` elements in one dtype,
// used in place from the file) with a batch of float activations.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/dtype.h"

namespace lineage {

class ThreadPool;

// A weight matrix rearranged once into row-interleaved panels (see
// kernels/gemm_panel.h), so that products with one token stream the
// weights in the order the kernels consume them.
class PackedMatrix {
 public:
  // nullptr when the type has no panel layout. release_source: w lies in a
  // read-only file mapping whose pages the kernel may drop after packing
  // (they are read back from the file if touched again), so the weights
  // are not resident twice.
  static std::shared_ptr<const PackedMatrix> pack(const void* w, DType t, int64_t rows, int64_t cols,
                                                  bool release_source);
  ~PackedMatrix();
  PackedMatrix(const PackedMatrix&) = delete;
  PackedMatrix& operator=(const PackedMatrix&) = delete;

  DType type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  size_t bytes() const { return bytes_; }
  const uint8_t* panel(int64_t p) const { return data_ + static_cast<size_t>(p) * panel_bytes_; }

 private:
  PackedMatrix() = default;
  DType type_ = DType::F32;
  int64_t rows_ = 0, cols_ = 0;
  size_t panel_bytes_ = 0, bytes_ = 0;
  uint8_t* data_ = nullptr;
};

// Bytes held by all live PackedMatrix objects (reported by `bench`).
size_t packed_bytes_in_use();

// y[t * rows + r] = dot(W row r, x[t * cols ...]) for t < n_tokens, r < rows.
// Each result is computed with a fixed reduction order per row, so a token's
// output does not depend on how many other tokens are in the batch, nor on
// the thread count. `packed`, when given, must hold the same matrix.
void matmul(const void* w, DType wtype, int64_t rows, int64_t cols, const float* x, int64_t n_tokens, float* y,
            ThreadPool& pool, const PackedMatrix* packed = nullptr);

}  // namespace lineage
