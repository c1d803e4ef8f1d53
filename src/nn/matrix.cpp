#include "nn/matrix.h"

#include <cstdlib>
#include <cstring>

#include "kernels/matmul.h"

namespace lineage {

void apply(const Matrix& m, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (n <= 0) return;
  matmul(m.data, m.type, m.rows, m.cols, x, n, y, pool, m.packed.get());
}

size_t prepack(Matrix& m, bool from_file_map) {
  const char* env = std::getenv("LINEAGE_REPACK");
  if (env && !std::strcmp(env, "0")) return 0;
  if (!m.packed) m.packed = PackedMatrix::pack(m.data, m.type, m.rows, m.cols, from_file_map);
  return m.packed ? m.packed->bytes() : 0;
}

}  // namespace lineage
