// Measures matmul throughput on the TinyLlama FFN shape (5632 x 2048): GB/s
// of weights streamed for one token (the generation case), with the matrix
// hot in cache and with enough copies cycled to force reads from DRAM, and
// GFLOP/s for a 512-token batch (the prompt case).
//
// Build by hand against the library:
//   g++ -O2 -std=c++20 -I src bench/gemv_bench.cpp build-kern/liblineage_lib.a -lpthread -o /tmp/gemv_bench
// Run: /tmp/gemv_bench [threads [TYPE...]]   (LINEAGE_ISA=scalar|avx2|avx512 to compare)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/type_traits.h"

using namespace lineage;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<uint8_t> make_matrix(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<uint8_t> m(dtype_row_bytes(t, cols) * rows);
  for (auto& b : m) b = static_cast<uint8_t>(rng());
  // Keep F16 scales finite: block scales sit at the start (or end, Q6_K).
  const int bs = dtype_layout(static_cast<uint32_t>(t))->type_size;
  const size_t off = t == DType::Q6_K ? 208 : 0;
  if (t != DType::F32 && t != DType::F16 && t != DType::BF16)
    for (size_t i = off; i + 2 <= m.size(); i += bs) {
      m[i] = 0x00;
      m[i + 1] = 0x20;
      if (t == DType::Q4_K) m[i + 2] = 0x00, m[i + 3] = 0x20;
    }
  if (t == DType::F16 || t == DType::BF16)
    for (size_t i = 1; i < m.size(); i += 2) m[i] &= 0x3f;
  if (t == DType::F32)
    for (size_t i = 3; i < m.size(); i += 4) m[i] = 0x3f;
  return m;
}

void bench_type(DType t, ThreadPool& pool) {
  const int64_t rows = 5632, cols = 2048;
  std::mt19937 rng(1);
  const size_t bytes = dtype_row_bytes(t, cols) * rows;
  // Cycle through ~400 MB of copies so each GEMV reads from DRAM.
  const int copies = static_cast<int>(std::max<size_t>(1, (400u << 20) / bytes));
  std::vector<std::vector<uint8_t>> mats;
  for (int i = 0; i < copies; ++i) mats.push_back(make_matrix(t, rows, cols, rng));
  std::vector<float> x(cols * 512), y(rows * 512);
  for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);

  auto run = [&](const std::vector<uint8_t>& m, int64_t ntok) {
    matmul(m.data(), t, rows, cols, x.data(), ntok, y.data(), pool);
  };
  for (int i = 0; i < 3; ++i) run(mats[0], 1);
  const int hot_reps = 200;
  double t0 = now_s();
  for (int i = 0; i < hot_reps; ++i) run(mats[0], 1);
  const double hot = (now_s() - t0) / hot_reps;
  const int cold_reps = std::max(copies * 3, 60);
  for (int i = 0; i < copies; ++i) run(mats[i], 1);
  t0 = now_s();
  for (int i = 0; i < cold_reps; ++i) run(mats[i % copies], 1);
  const double cold = (now_s() - t0) / cold_reps;
  t0 = now_s();
  const int pp_reps = 2;
  for (int i = 0; i < pp_reps; ++i) run(mats[0], 512);
  const double pp = (now_s() - t0) / pp_reps;
  std::printf("%-5s %-6s  gemv hot %7.1f us %6.1f GB/s | gemv DRAM %7.1f us %6.1f GB/s | 512 tok %7.2f ms %7.1f GFLOP/s\n",
              dtype_name(t), isa_name(active_isa()), hot * 1e6, bytes / hot / 1e9, cold * 1e6, bytes / cold / 1e9,
              pp * 1e3, 2.0 * rows * cols * 512 / pp / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : default_thread_count();
  ThreadPool pool(threads);
  std::printf("threads %d, isa %s\n", threads, isa_name(active_isa()));
  std::vector<DType> types;
  for (int i = 2; i < argc; ++i) {
    DType t;
    if (!dtype_from_name(argv[i], &t) || !type_traits(t)) {
      std::fprintf(stderr, "unknown or unsupported type %s\n", argv[i]);
      return 1;
    }
    types.push_back(t);
  }
  if (types.empty()) types = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::F32};
  for (DType t : types) bench_type(t, pool);
  return 0;
}
