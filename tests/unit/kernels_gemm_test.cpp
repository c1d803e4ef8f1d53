// The panel GEMM (Q4_0, Q8_0) on every instruction set against the scalar
// reference dot product, bit for bit: the panel kernels promise the
// reference's reduction order, so any batch size, thread count, packing or
// ISA gives exactly the reference value. Odd shapes cover partial panels
// (rows not a multiple of 16), single blocks and token counts around the
// register tile widths.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/gemm_panel.h"
#include "kernels/matmul.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels_test_util.h"

namespace lineage {
namespace {

using test::for_each_isa;
using test::random_floats;
using test::random_row;

std::vector<uint8_t> random_matrix(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<uint8_t> m;
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = random_row(t, cols, seed + static_cast<uint32_t>(r));
    m.insert(m.end(), row.begin(), row.end());
  }
  return m;
}

// y_ref[t * rows + r] from the scalar quantizer and the scalar dot product.
std::vector<float> reference(DType t, const std::vector<uint8_t>& w, int64_t rows, int64_t cols,
                             const std::vector<float>& x, int64_t n) {
  const TypeTraits* tt = type_traits_ref(t);
  std::vector<uint8_t> xq(dtype_row_bytes(DType::Q8_0, cols));
  std::vector<float> y(static_cast<size_t>(rows * n));
  for (int64_t k = 0; k < n; ++k) {
    ref::from_float_q8_0(x.data() + k * cols, xq.data(), cols);
    for (int64_t r = 0; r < rows; ++r)
      tt->vec_dot(cols, &y[k * rows + r], w.data() + r * dtype_row_bytes(t, cols), xq.data());
  }
  return y;
}

void expect_bitwise(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(f32_to_bits(got[i]), f32_to_bits(want[i])) << what << " at " << i << ": " << got[i] << " vs " << want[i];
}

struct Shape {
  int64_t rows, cols, tokens;
};

// Partial panels (1, 17, 37 rows), one block, odd block counts, token
// counts that leave every remainder of the 4- and 8-wide register tiles.
// Single tokens over 7 and 5 panels cover full and partial groups of the
// multi-panel one-token kernel.
constexpr Shape kShapes[] = {{1, 32, 1},   {16, 64, 3},  {17, 96, 9},   {37, 160, 13}, {48, 32, 8},
                             {5, 288, 5},  {33, 256, 16}, {64, 2048, 2}, {100, 96, 1},  {70, 256, 1}};

TEST(KernelGemm, PanelProductsEqualScalarReferenceBitwise) {
  ThreadPool pools[] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
  for (DType t : {DType::Q4_0, DType::Q8_0}) {
    SCOPED_TRACE(dtype_name(t));
    for (const Shape& s : kShapes) {
      SCOPED_TRACE(testing::Message() << s.rows << "x" << s.cols << " x " << s.tokens << " tokens");
      const auto w = random_matrix(t, s.rows, s.cols, 11 + static_cast<uint32_t>(s.rows));
      const auto x = random_floats(s.tokens * s.cols, 23 + static_cast<uint32_t>(s.cols), 2.0f);
      const auto want = reference(t, w, s.rows, s.cols, x, s.tokens);
      const auto packed = PackedMatrix::pack(w.data(), t, s.rows, s.cols, false);
      ASSERT_TRUE(packed);
      for_each_isa([&](Isa) {
        ASSERT_NE(type_traits(t)->gemm_panel, nullptr);
        for (ThreadPool& pool : pools) {
          std::vector<float> y(want.size()), yp(want.size());
          matmul(w.data(), t, s.rows, s.cols, x.data(), s.tokens, y.data(), pool);
          expect_bitwise(y, want, "packed on the fly");
          matmul(w.data(), t, s.rows, s.cols, x.data(), s.tokens, yp.data(), pool, packed.get());
          expect_bitwise(yp, want, "pre-packed");
        }
      });
    }
  }
}

// F16 weights: each output is the sequential fused multiply-add chain over
// the columns, whatever the ISA, batch, thread count or packing.
TEST(KernelGemm, F16PanelsAreSequentialFmaChains) {
  ThreadPool pools[] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
  // 1024 columns (4 KiB rows) take the copy to a padded stride; 50 and 40
  // rows give panel pairs with and without a lone last panel.
  const Shape shapes[] = {{1, 7, 1},   {17, 100, 13}, {37, 72, 1},   {70, 64, 2},
                          {16, 33, 12}, {5, 40, 25},  {50, 1024, 21}, {40, 1024, 3}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(testing::Message() << s.rows << "x" << s.cols << " x " << s.tokens << " tokens");
    const auto w = random_matrix(DType::F16, s.rows, s.cols, 3);
    const auto x = random_floats(s.tokens * s.cols, 4);
    std::vector<float> want(static_cast<size_t>(s.rows * s.tokens));
    const uint16_t* wh = reinterpret_cast<const uint16_t*>(w.data());
    for (int64_t t = 0; t < s.tokens; ++t)
      for (int64_t r = 0; r < s.rows; ++r) {
        float acc = 0;
        for (int64_t i = 0; i < s.cols; ++i) acc = std::fma(x[t * s.cols + i], fp16_to_f32(wh[r * s.cols + i]), acc);
        want[t * s.rows + r] = acc;
      }
    const auto packed = PackedMatrix::pack(w.data(), DType::F16, s.rows, s.cols, false);
    ASSERT_TRUE(packed);
    for_each_isa([&](Isa) {
      for (ThreadPool& pool : pools) {
        std::vector<float> y(want.size()), yp(want.size());
        matmul(w.data(), DType::F16, s.rows, s.cols, x.data(), s.tokens, y.data(), pool);
        expect_bitwise(y, want, "packed on the fly");
        matmul(w.data(), DType::F16, s.rows, s.cols, x.data(), s.tokens, yp.data(), pool, packed.get());
        expect_bitwise(yp, want, "pre-packed");
      }
    });
  }
}

TEST(KernelGemm, PackedLayoutHoldsEveryValue) {
  // Unpacking the documented layout by hand gives back the row values.
  for (DType t : {DType::Q4_0, DType::Q8_0}) {
    const int64_t rows = 19, cols = 96;
    const auto w = random_matrix(t, rows, cols, 5);
    std::vector<uint8_t> panel(panel_bytes(t, cols) + 64);
    uint8_t* p = panel.data() + (64 - reinterpret_cast<uintptr_t>(panel.data()) % 64) % 64;
    pack_panel(t, w.data(), rows, cols, 16, p);  // the partial second panel: rows 16..18
    const int64_t nb = cols / kQK, qb = panel_chunk_bytes(t);
    const uint16_t* d = reinterpret_cast<const uint16_t*>(p + nb * qb);
    for (int r = 0; r < kPanelRows; ++r) {
      std::vector<float> want(cols, 0.0f);
      if (r < 3) want = test::dequantize(t, w.data() + (16 + r) * dtype_row_bytes(t, cols), cols);
      for (int64_t b = 0; b < nb; ++b)
        for (int v = 0; v < kQK; ++v) {
          int q;
          if (t == DType::Q4_0) {
            const uint8_t byte = p[b * qb + (v & 15) / 4 * 64 + r * 4 + (v & 3)];
            q = (v < 16 ? (byte & 15) : (byte >> 4)) - 8;
          } else {
            q = p[b * qb + v / 4 * 64 + r * 4 + (v & 3)] - 128;
          }
          const float got = static_cast<float>(q) * fp16_to_f32(d[b * kPanelRows + r]);
          ASSERT_EQ(got, want[b * kQK + v]) << dtype_name(t) << " row " << r << " value " << b * kQK + v;
        }
    }
  }
}

TEST(KernelGemm, PackedMatrixOfAnotherShapeIsRefused) {
  ThreadPool pool(1);
  const auto w = random_matrix(DType::Q4_0, 16, 64, 1);
  const auto packed = PackedMatrix::pack(w.data(), DType::Q4_0, 16, 64, false);
  std::vector<float> x(64 * 2), y(32);
  EXPECT_THROW(matmul(w.data(), DType::Q4_0, 8, 64, x.data(), 1, y.data(), pool, packed.get()), Error);
  EXPECT_EQ(PackedMatrix::pack(w.data(), DType::BF16, 16, 64, false), nullptr);
}

}  // namespace
}  // namespace lineage
