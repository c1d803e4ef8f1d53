// Matrix products of a weight matrix (rows of `cols` elements in one dtype,
// used in place from the file) with a batch of float activations.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace lineage {

class ThreadPool;

// y[t * rows + r] = dot(W row r, x[t * cols ...]) for t < n_tokens, r < rows.
// Each result is computed with a fixed reduction order per row, so a token's
// output does not depend on how many other tokens are in the batch.
void matmul(const void* w, DType wtype, int64_t rows, int64_t cols, const float* x, int64_t n_tokens, float* y,
            ThreadPool& pool);

}  // namespace lineage
