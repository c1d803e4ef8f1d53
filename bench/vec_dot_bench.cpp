// Per-kernel cost in CPU time (CLOCK_THREAD_CPUTIME_ID, so it holds up on a
// shared machine): ns per 32 weights for vec_dot over an L2-resident set of
// 2048-wide rows, per ISA. Build like gemv_bench.cpp.
#include <time.h>

#include <cstdio>
#include <random>
#include <vector>

#include "kernels/type_traits.h"

using namespace lineage;

namespace {

double cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

}  // namespace

int main() {
  const int64_t cols = 2048, rows = 64;
  std::mt19937 rng(3);
  std::vector<float> xf(cols), wf(cols * rows);
  for (auto& v : xf) v = std::normal_distribution<float>()(rng);
  for (auto& v : wf) v = std::normal_distribution<float>()(rng);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::F32}) {
    const TypeTraits* ref = type_traits_ref(t);
    const size_t row_bytes = dtype_row_bytes(t, cols);
    std::vector<uint8_t> w(row_bytes * rows);
    for (auto& b : w) b = static_cast<uint8_t>(rng());
    if (ref->from_float)
      for (int64_t r = 0; r < rows; ++r) ref->from_float(wf.data() + r * cols, w.data() + r * row_bytes, cols);
    std::vector<uint8_t> x(dtype_row_bytes(ref->vec_dot_type, cols));
    type_traits_ref(ref->vec_dot_type)->from_float(xf.data(), x.data(), cols);
    std::printf("%-5s", dtype_name(t));
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
      if (static_cast<int>(isa) > static_cast<int>(cpu_isa())) break;
      force_isa(isa);
      const TypeTraits* tt = type_traits(t);
      float sink = 0, out;
      const int reps = isa == Isa::Scalar ? 20 : 400;
      const double t0 = cpu_s();
      for (int rep = 0; rep < reps; ++rep)
        for (int64_t r = 0; r < rows; ++r) {
          tt->vec_dot(cols, &out, w.data() + r * row_bytes, x.data());
          sink += out;
        }
      const double ns = (cpu_s() - t0) * 1e9 / (static_cast<double>(reps) * rows * cols / 32);
      std::printf("  %s %6.2f ns/32 (%5.1f GB/s)", isa_name(isa), ns, row_bytes * 32.0 / cols / ns);
      if (sink == 12345) std::printf(" ");
    }
    std::printf("\n");
  }
  return 0;
}
