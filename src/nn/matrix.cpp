#include "nn/matrix.h"

#include "kernels/matmul.h"

namespace lineage {

void apply(const Matrix& m, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (n <= 0) return;
  matmul(m.data, m.type, m.rows, m.cols, x, n, y, pool);
}

}  // namespace lineage
