// Speed of the CUDA matrix products (run by hand on a GPU machine):
// decode (one token: weight bytes streamed per second) and prefill (512
// tokens: effective tera-operations per second, 2 * rows * cols * n) for
// the LLaMA-2-7B shapes. Each figure is the median of 7 replays of a
// recorded graph of 20 products.
//
//   build-cuda/bench/cuda_matmul_bench [TYPE ...]   (default Q4_0 Q8_0 Q4_K Q6_K F16)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/device.h"
#include "kernels/quant_blocks.h"
#include "tensor/fp16.h"

namespace {

using namespace lineage;

// Random bytes with small, finite scales: the speed does not depend on the values.
std::vector<uint8_t> random_matrix(DType t, int64_t rows, int64_t cols) {
  std::vector<uint8_t> w(dtype_row_bytes(t, cols) * static_cast<size_t>(rows));
  std::mt19937 rng(1);
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const uint16_t d = f32_to_fp16(0.01f);
  const size_t n = w.size();
  auto set16 = [&](size_t at) { std::memcpy(w.data() + at, &d, 2); };
  switch (t) {
    case DType::Q4_0: for (size_t i = 0; i < n; i += sizeof(BlockQ4_0)) set16(i); break;
    case DType::Q8_0: for (size_t i = 0; i < n; i += sizeof(BlockQ8_0)) set16(i); break;
    case DType::Q4_K: for (size_t i = 0; i < n; i += sizeof(BlockQ4_K)) set16(i), set16(i + 2); break;
    case DType::Q6_K: for (size_t i = 0; i < n; i += sizeof(BlockQ6_K)) set16(i + 208); break;
    case DType::F16:
      for (size_t i = 0; i < n; i += 2) {
        const uint16_t h = f32_to_fp16(static_cast<float>(static_cast<int>(rng() % 2001) - 1000) * 1e-4f);
        std::memcpy(w.data() + i, &h, 2);
      }
      break;
    default: fail("bench: no generator for ", dtype_name(t));
  }
  return w;
}

// Median seconds of one product, from replays of a graph of `reps` of them.
double time_product(Device& dev, const DevMatrix& m, const void* act, int64_t n, float* y) {
  constexpr int reps = 20;
  auto g = dev.capture([&] {
    for (int i = 0; i < reps; ++i) dev.matmul(m, act, n, y, false);
  });
  std::vector<double> t;
  for (int i = 0; i < 8; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (g) {
      dev.replay(*g);
    } else {
      for (int r = 0; r < reps; ++r) dev.matmul(m, act, n, y, false);
    }
    dev.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    if (i > 0) t.push_back(s);  // the first replay warms up
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<DType> types;
    for (int i = 1; i < argc; ++i) {
      DType t;
      if (!dtype_from_name(argv[i], &t)) fail("unknown type ", argv[i]);
      types.push_back(t);
    }
    if (types.empty()) types = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16};
    auto dev = open_device("cuda");
    std::printf("%s\n%-6s %-12s %12s %12s %14s\n", dev->name().c_str(), "type", "shape", "decode us", "GB/s",
                "prefill TOPS");
    const std::pair<int64_t, int64_t> shapes[] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
    for (DType t : types) {
      for (auto [rows, cols] : shapes) {
        const auto w = random_matrix(t, rows, cols);
        const MatrixPart part{w.data(), rows};
        DevMatrix m = dev->upload_matrix(t, cols, std::span<const MatrixPart>(&part, 1));
        const int64_t n_pre = 512;
        const ActFormat f = act_format(t);
        std::vector<float> x(static_cast<size_t>(n_pre * cols));
        std::mt19937 rng(2);
        std::normal_distribution<float> nd;
        for (auto& v : x) v = nd(rng);
        float* xd = static_cast<float*>(dev->alloc(x.size() * 4));
        dev->upload(xd, x.data(), x.size() * 4);
        void* a1 = dev->alloc(dev->act_bytes(f, 1, cols));
        void* an = dev->alloc(dev->act_bytes(f, n_pre, cols));
        dev->convert(xd, 1, cols, f, a1);
        dev->convert(xd, n_pre, cols, f, an);
        float* y = static_cast<float*>(dev->alloc(static_cast<size_t>(n_pre * rows) * 4));
        const double dec = time_product(*dev, m, a1, 1, y);
        const double pre = time_product(*dev, m, an, n_pre, y);
        const size_t bytes = cuda::packed_bytes(t, rows, cols);
        std::printf("%-6s %5lldx%-6lld %12.2f %12.0f %14.1f\n", dtype_name(t), static_cast<long long>(rows),
                    static_cast<long long>(cols), dec * 1e6, static_cast<double>(bytes) / dec / 1e9,
                    2.0 * static_cast<double>(rows * cols) * n_pre / pre / 1e12);
        dev->free(y);
        dev->free(an);
        dev->free(a1);
        dev->free(xd);
        dev->free_matrix(m);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
