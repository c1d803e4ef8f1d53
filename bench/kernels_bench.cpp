// Micro-benchmarks of the kernels on the TinyLlama-1.1B shapes (Google
// Benchmark; built as lineage_bench when libbenchmark-dev is installed, not
// part of ctest). Run: build/bench/lineage_bench [--benchmark_filter=...]
// LINEAGE_ISA=scalar|avx2|avx512 picks the kernel row. Counters: GB/s of
// weights read, GFLOP/s (2 per multiply-add). Time columns are process
// CPU time, which stays comparable on a machine shared with other jobs.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "kernels/type_traits.h"
#include "nn/attention.h"
#include "tensor/fp16.h"

using namespace lineage;

namespace lineage::bench {
float fma_loop(int64_t iters);
int32_t vnni_loop(int64_t iters);
int64_t read_loop(const uint8_t* p, size_t bytes);
}  // namespace lineage::bench

namespace {

ThreadPool& pool_for(int threads) {
  static ThreadPool p1(1), p2(2);
  return threads == 1 ? p1 : p2;
}

bool has_avx512() {
  if (cpu_isa() == Isa::Avx512) return true;
  return false;
}

// Peak FP32 FMA throughput of the calling thread.
void BM_PeakFma(benchmark::State& st) {
  if (!has_avx512()) return st.SkipWithError("needs AVX-512");
  const int64_t iters = 1 << 20;
  for (auto _ : st) benchmark::DoNotOptimize(bench::fma_loop(iters));
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * 16 * 16 * iters * st.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeakFma)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

// Peak int8 multiply-add throughput (vpdpbusd) of the calling thread.
void BM_PeakVnni(benchmark::State& st) {
  if (!has_avx512()) return st.SkipWithError("needs AVX-512 VNNI");
  const int64_t iters = 1 << 20;
  for (auto _ : st) benchmark::DoNotOptimize(bench::vnni_loop(iters));
  st.counters["GOP/s"] = benchmark::Counter(2.0 * 64 * 16 * iters * st.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeakVnni)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

// DRAM read bandwidth over 1 GiB with 1 or 2 threads (wall time: the
// bandwidth is what both cores get together).
void BM_ReadBandwidth(benchmark::State& st) {
  if (!has_avx512()) return st.SkipWithError("needs AVX-512");
  const size_t bytes = size_t{1} << 30;
  static uint8_t* buf = [] {
    auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, size_t{1} << 30));
    std::memset(p, 1, size_t{1} << 30);
    return p;
  }();
  ThreadPool& pool = pool_for(static_cast<int>(st.range(0)));
  for (auto _ : st) {
    std::atomic<int64_t> sum{0};
    pool.run([&](int ith, int nth) {
      const size_t a = bytes / nth * ith / 256 * 256, e = bytes / nth * (ith + 1) / 256 * 256;
      sum += bench::read_loop(buf + a, e - a);
    });
    benchmark::DoNotOptimize(sum.load());
  }
  st.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * st.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr int64_t kRows = 5632, kCols = 2048;  // the FFN up/gate matrix

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A matrix of type t made by quantizing random floats (row by row).
std::vector<uint8_t> make_matrix(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  const size_t rb = dtype_row_bytes(t, cols);
  std::vector<uint8_t> m(rb * rows);
  const FromFloatFn q = type_traits(t)->from_float;
  if (!q) {  // K types: random bytes with sane F16 scales
    std::mt19937 rng(seed);
    for (auto& b : m) b = static_cast<uint8_t>(rng());
    const int bs = dtype_layout(static_cast<uint32_t>(t))->type_size;
    for (size_t i = 0; i + bs <= m.size(); i += bs) {
      const uint16_t h = f32_to_fp16(0.01f);
      std::memcpy(&m[i], &h, 2);
      std::memcpy(&m[i + 2], &h, 2);
    }
    return m;
  }
  const auto f = random_floats(static_cast<size_t>(cols), seed);
  for (int64_t r = 0; r < rows; ++r) q(f.data(), m.data() + r * rb, cols);
  return m;
}

// args: type id, tokens, threads, packed (0/1). Up to 16 tokens (a decode
// step of one or several sequences) read the weights from DRAM (copies
// cycled past the caches); a prompt batch keeps one copy hot.
void BM_Matmul(benchmark::State& st) {
  const DType t = static_cast<DType>(st.range(0));
  const int64_t n = st.range(1);
  ThreadPool& pool = pool_for(static_cast<int>(st.range(2)));
  const bool use_packed = st.range(3) != 0;
  if (!type_traits(t)) {
    st.SkipWithError("type not supported");
    return;
  }
  const size_t bytes = dtype_row_bytes(t, kCols) * kRows;
  const int copies = n <= 16 ? static_cast<int>(std::max<size_t>(1, (256u << 20) / bytes)) : 1;
  std::vector<std::vector<uint8_t>> mats;
  std::vector<std::shared_ptr<const PackedMatrix>> packed;
  for (int i = 0; i < copies; ++i) {
    mats.push_back(make_matrix(t, kRows, kCols, 7 + i));
    packed.push_back(use_packed ? PackedMatrix::pack(mats.back().data(), t, kRows, kCols, false) : nullptr);
  }
  if (use_packed && !packed[0]) {
    st.SkipWithError("no packed layout for this type");
    return;
  }
  const auto x = random_floats(static_cast<size_t>(kCols * n), 1);
  std::vector<float> y(static_cast<size_t>(kRows * n));
  int i = 0;
  for (auto _ : st) {
    matmul(mats[i].data(), t, kRows, kCols, x.data(), n, y.data(), pool, packed[i].get());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % copies;
  }
  st.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * st.iterations(), benchmark::Counter::kIsRate);
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * kRows * kCols * n * st.iterations() / 1e9, benchmark::Counter::kIsRate);
  st.SetLabel(std::string(dtype_name(t)) + " " + isa_name(active_isa()));
}

void MatmulArgs(benchmark::internal::Benchmark* b) {
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::F16})
    for (int n : {1, 4, 16, 512})
      for (int th : {1, 2})
        for (int packed : {0, 1}) {
          if (packed && t == DType::Q4_K) continue;
          if (n > 1 && !packed && t != DType::Q4_K) continue;
          if ((n == 4 || n == 16) && th == 2) continue;
          b->Args({static_cast<int64_t>(t), n, th, packed});
        }
}
BENCHMARK(BM_Matmul)->Apply(MatmulArgs)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

// Activation quantization (one 2048-wide row to Q8_0).
void BM_QuantizeQ8_0(benchmark::State& st) {
  const auto x = random_floats(kCols, 3);
  std::vector<uint8_t> q(dtype_row_bytes(DType::Q8_0, kCols));
  const FromFloatFn f = type_traits(DType::Q8_0)->from_float;
  for (auto _ : st) {
    f(x.data(), q.data(), kCols);
    benchmark::DoNotOptimize(q.data());
  }
  st.SetBytesProcessed(st.iterations() * kCols * 4);
}
BENCHMARK(BM_QuantizeQ8_0);

// Attention of one layer, TinyLlama heads (32 query, 4 KV, 64 wide): args
// tokens in the batch, context already in the cache.
void BM_Attention(benchmark::State& st) {
  const int64_t n = st.range(0), past = st.range(1), n_ctx = past + n;
  const AttentionShape s{32, 4, 64, 0};
  const auto q = random_floats(static_cast<size_t>(n * 32 * 64), 4);
  const auto k = random_floats(static_cast<size_t>(4 * n_ctx * 64), 5);
  const auto v = random_floats(k.size(), 6);
  std::vector<float> out(q.size()), scores(static_cast<size_t>(2 * n_ctx * 32 * std::max<int64_t>(n, 1)));
  ThreadPool& pool = pool_for(static_cast<int>(st.range(2)));
  for (auto _ : st) {
    attention(s, q.data(), k.data(), v.data(), n_ctx, past, n, out.data(), scores.data(), pool);
    benchmark::DoNotOptimize(out.data());
  }
  double pairs = 0;
  for (int64_t t = 0; t < n; ++t) pairs += static_cast<double>(past + t + 1);
  st.counters["GFLOP/s"] = benchmark::Counter(4.0 * 32 * 64 * pairs * st.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Attention)
    ->Args({1, 511, 1})
    ->Args({1, 511, 2})
    ->Args({512, 0, 2})
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
