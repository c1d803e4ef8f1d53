// GEMV throughput (one token, the generation case) of every quantized
// weight type on the TinyLlama FFN shape (5632 x 2048), in GB/s of weights
// streamed. Types are measured in alternation, round after round, so a
// noisy neighbour slows them all alike; the median and best round are
// printed. Then each type's kernel cost alone: CPU time of vec_dot on one
// thread (CLOCK_THREAD_CPUTIME_ID, which a shared machine disturbs far less
// than wall time) over L2-resident rows. Blocks are random with finite F16
// scales in their own fields.
//
// Build by hand against the library:
//   g++ -O2 -std=c++20 -I src bench/gemv_types_bench.cpp build/liblineage_lib.a -lpthread -o /tmp/gemv_types
// Run: /tmp/gemv_types [threads [rounds [TYPE...]]]   (LINEAGE_ISA=scalar|avx2|avx512 to compare)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/type_traits.h"

using namespace lineage;

namespace {

double cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Byte offsets of the F16 scale fields inside one block.
std::vector<int> scale_fields(DType t) {
  switch (t) {
    case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: return {0, 2};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q6_K: return {208};
    default: return {0};
  }
}

std::vector<uint8_t> make_matrix(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<uint8_t> m(dtype_row_bytes(t, cols) * rows);
  for (auto& b : m) b = static_cast<uint8_t>(rng());
  const int bs = dtype_layout(static_cast<uint32_t>(t))->type_size;
  const uint16_t scale = 0x2000;  // 2^-7
  for (size_t i = 0; i < m.size(); i += bs)
    for (int f : scale_fields(t)) std::memcpy(&m[i + f], &scale, 2);
  return m;
}

struct Case {
  DType type;
  std::vector<std::vector<uint8_t>> copies;  // cycled so every GEMV reads from DRAM
  std::vector<double> gbs;
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  const int64_t rows = 5632, cols = 2048;
  std::vector<Case> cases;
  for (int i = 3; i < argc; ++i) {
    DType t;
    if (!dtype_from_name(argv[i], &t) || !type_traits(t) || !type_traits(t)->vec_dot) {
      std::fprintf(stderr, "unknown or unsupported type %s\n", argv[i]);
      return 1;
    }
    cases.push_back({t, {}, {}});
  }
  if (cases.empty())
    for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                    DType::Q5_K, DType::Q6_K})
      cases.push_back({t, {}, {}});
  ThreadPool pool(threads);
  std::mt19937 rng(1);
  for (Case& c : cases) {
    const size_t bytes = dtype_row_bytes(c.type, cols) * rows;
    const int n = static_cast<int>(std::max<size_t>(2, (160u << 20) / bytes));
    for (int k = 0; k < n; ++k) c.copies.push_back(make_matrix(c.type, rows, cols, rng));
  }
  std::vector<float> x(cols), y(rows);
  for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
  for (int r = 0; r < rounds; ++r) {
    for (Case& c : cases) {
      const size_t bytes = dtype_row_bytes(c.type, cols) * rows;
      const int reps = static_cast<int>(c.copies.size()) * 2;
      matmul(c.copies.back().data(), c.type, rows, cols, x.data(), 1, y.data(), pool);
      const double t0 = now_s();
      for (int k = 0; k < reps; ++k)
        matmul(c.copies[k % c.copies.size()].data(), c.type, rows, cols, x.data(), 1, y.data(), pool);
      c.gbs.push_back(static_cast<double>(bytes) * reps / (now_s() - t0) / 1e9);
    }
  }
  std::printf("threads %d, isa %s, %d rounds, %lld x %lld\n", threads, isa_name(active_isa()), rounds,
              static_cast<long long>(rows), static_cast<long long>(cols));
  std::printf("%-5s %8s %10s %10s %10s\n", "type", "MiB", "median", "best", "us/GEMV");
  for (Case& c : cases) {
    std::sort(c.gbs.begin(), c.gbs.end());
    const double bytes = static_cast<double>(dtype_row_bytes(c.type, cols) * rows);
    const double med = c.gbs[c.gbs.size() / 2];
    std::printf("%-5s %8.2f %7.1f GB/s %5.1f GB/s %10.1f\n", dtype_name(c.type), bytes / (1 << 20), med, c.gbs.back(),
                bytes / med / 1e3);
  }
  // Kernel cost: 64 rows of 2048 (L2-resident) against one activation row.
  std::printf("\nvec_dot CPU time, one thread, L2-resident (ns per 256 weights)\n");
  for (Case& c : cases) {
    const int64_t krows = 64;
    const auto m = make_matrix(c.type, krows, cols, rng);
    const TypeTraits* tt = type_traits(c.type);
    std::vector<uint8_t> xq(dtype_row_bytes(tt->vec_dot_type, cols));
    type_traits(tt->vec_dot_type)->from_float(x.data(), xq.data(), cols);
    const size_t rb = dtype_row_bytes(c.type, cols);
    float sink = 0;
    double best = 1e30;
    for (int r = 0; r < 5; ++r) {
      const double t0 = cpu_s();
      for (int rep = 0; rep < 200; ++rep)
        for (int64_t row = 0; row < krows; ++row) {
          float out;
          tt->vec_dot(cols, &out, m.data() + row * rb, xq.data());
          sink += out;
        }
      best = std::min(best, (cpu_s() - t0) / (200.0 * krows * cols / 256) * 1e9);
    }
    std::printf("%-5s %8.1f ns%s\n", dtype_name(c.type), best, sink == 12345.0f ? " " : "");
  }
  return 0;
}
