// matmul against a dequantize-and-dot reference, batch invariance, and the
// thread pool it runs on.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels_test_util.h"

namespace lineage {
namespace {

using test::dequantize;
using test::for_each_isa;
using test::random_floats;
using test::random_row;

struct Case {
  DType type;
  int64_t cols;
};

// Column counts: block multiples that are not multiples of the SIMD width.
constexpr Case kCases[] = {{DType::F32, 100}, {DType::F16, 72},   {DType::BF16, 40},  {DType::Q8_0, 160},
                           {DType::Q4_0, 352}, {DType::Q4_K, 768}, {DType::Q6_K, 512}};
constexpr int64_t kRows = 37;  // not a multiple of any chunk size
constexpr int64_t kTokens = 7;

std::vector<uint8_t> random_matrix(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<uint8_t> m;
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = random_row(t, cols, seed + static_cast<uint32_t>(r));
    m.insert(m.end(), row.begin(), row.end());
  }
  return m;
}

// Activations are rounded to 8 bits for the quantized types, so they match
// the exact product to about 1% of sum |w x|; float types to 1e-5.
TEST(KernelMatmul, MatchesDequantizedReference) {
  ThreadPool pool(2);
  for (const Case& c : kCases) {
    SCOPED_TRACE(dtype_name(c.type));
    const auto w = random_matrix(c.type, kRows, c.cols, 100);
    const auto x = random_floats(kTokens * c.cols, 200);
    const size_t row_bytes = dtype_row_bytes(c.type, c.cols);
    const bool quantized = type_traits(c.type)->vec_dot_type != DType::F32;
    for_each_isa([&](Isa) {
      std::vector<float> y(kRows * kTokens);
      matmul(w.data(), c.type, kRows, c.cols, x.data(), kTokens, y.data(), pool);
      for (int64_t r = 0; r < kRows; ++r) {
        const auto wr = dequantize(c.type, w.data() + r * row_bytes, c.cols);
        for (int64_t t = 0; t < kTokens; ++t) {
          double want = 0, abs_sum = 0;
          for (int64_t i = 0; i < c.cols; ++i) {
            want += static_cast<double>(wr[i]) * x[t * c.cols + i];
            abs_sum += std::fabs(static_cast<double>(wr[i]) * x[t * c.cols + i]);
          }
          ASSERT_NEAR(y[t * kRows + r], want, (quantized ? 1e-2 : 1e-5) * abs_sum) << "row " << r << " token " << t;
        }
      }
    });
  }
}

TEST(KernelMatmul, TokenAloneEqualsTokenInBatchBitwise) {
  ThreadPool pool2(2), pool1(1);
  for (const Case& c : kCases) {
    SCOPED_TRACE(dtype_name(c.type));
    const auto w = random_matrix(c.type, kRows, c.cols, 300);
    const auto x = random_floats(kTokens * c.cols, 400);
    for_each_isa([&](Isa) {
      std::vector<float> batch(kRows * kTokens), batch1(kRows * kTokens);
      matmul(w.data(), c.type, kRows, c.cols, x.data(), kTokens, batch.data(), pool2);
      matmul(w.data(), c.type, kRows, c.cols, x.data(), kTokens, batch1.data(), pool1);
      EXPECT_EQ(std::memcmp(batch.data(), batch1.data(), batch.size() * 4), 0) << "thread count changed results";
      for (int64_t t = 0; t < kTokens; ++t) {
        std::vector<float> alone(kRows);
        matmul(w.data(), c.type, kRows, c.cols, x.data() + t * c.cols, 1, alone.data(), pool2);
        EXPECT_EQ(std::memcmp(alone.data(), batch.data() + t * kRows, kRows * 4), 0) << "token " << t;
      }
    });
  }
}

TEST(KernelMatmul, ManyRowsManyTokens) {
  // Enough rows for several chunks per thread and a token count with a
  // partial group at the end.
  ThreadPool pool(2);
  const int64_t rows = 1000, cols = 256, tokens = 13;
  const auto w = random_matrix(DType::Q4_0, rows, cols, 500);
  const auto x = random_floats(tokens * cols, 600);
  std::vector<float> y(rows * tokens);
  matmul(w.data(), DType::Q4_0, rows, cols, x.data(), tokens, y.data(), pool);
  const TypeTraits* tt = type_traits(DType::Q4_0);
  std::vector<uint8_t> xq(dtype_row_bytes(DType::Q8_0, cols));
  for (int64_t t = 0; t < tokens; ++t) {
    type_traits(DType::Q8_0)->from_float(x.data() + t * cols, xq.data(), cols);
    for (int64_t r = 0; r < rows; ++r) {
      float want;
      tt->vec_dot(cols, &want, w.data() + r * dtype_row_bytes(DType::Q4_0, cols), xq.data());
      ASSERT_EQ(f32_to_bits(y[t * rows + r]), f32_to_bits(want)) << r << " " << t;
    }
  }
}

TEST(KernelMatmul, RejectsTypesWithoutKernels) {
  ThreadPool pool(1);
  std::vector<uint8_t> w(dtype_row_bytes(DType::IQ2_XXS, 256));
  std::vector<float> x(256), y(1);
  EXPECT_THROW(matmul(w.data(), DType::IQ2_XXS, 1, 256, x.data(), 1, y.data(), pool), Error);
}

TEST(KernelThreadPool, EveryThreadRunsOncePerCall) {
  for (int n : {1, 2, 3, 8}) {
    ThreadPool pool(n);
    EXPECT_EQ(pool.size(), n);
    // Fewer rounds when oversubscribed: each round then waits on the scheduler.
    const int reps = n <= 2 ? 2000 : 100;
    for (int rep = 0; rep < reps; ++rep) {
      std::atomic<int> mask{0}, count{0};
      pool.run([&](int ith, int nth) {
        EXPECT_EQ(nth, n);
        mask.fetch_or(1 << ith);
        count.fetch_add(1);
      });
      ASSERT_EQ(count.load(), n);
      ASSERT_EQ(mask.load(), (1 << n) - 1);
    }
  }
}

TEST(KernelThreadPool, ExceptionsReachTheCaller) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.run([](int ith, int) {
    if (ith == 1) throw std::runtime_error("worker failed");
  }),
               std::runtime_error);
  EXPECT_THROW(pool.run([](int ith, int) {
    if (ith == 0) throw std::runtime_error("caller failed");
  }),
               std::runtime_error);
  std::atomic<int> count{0};
  pool.run([&](int, int) { count.fetch_add(1); });
  EXPECT_EQ(count.load(), 2);
}

TEST(KernelThreadPool, DefaultThreadCountIsSane) {
  const int n = default_thread_count();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 4096);
}

}  // namespace
}  // namespace lineage
