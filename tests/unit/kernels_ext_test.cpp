// Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K and the Q8_1 activations: hand-built
// blocks against the format's formulas, the reference dot products against
// a double-precision dot of the dequantized rows, and every SIMD kernel
// against the scalar reference on each ISA this CPU has (dequantization and
// multi-token dots bitwise, single dots within 1e-5 of the sum of |terms|).
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks_ext.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/ref/ref_kernels_ext.h"
#include "kernels_test_util.h"

namespace lineage {
namespace {

using test::for_each_isa;
using test::random_floats;

constexpr DType kNewTypes[] = {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q5_K};

std::vector<int64_t> lengths(DType t) {
  if (dtype_block_size(t) == kQK) return {32, 64, 96, 160, 224, 4128};  // odd block counts, past the SIMD width
  return {256, 512, 768, 1280, 2304};
}

enum class Scales { Typical, Extreme };

// Random bytes for every packed field, with F16 scales set from a range:
// typical ones, or extremes (largest and subnormal F16, zero, negative).
std::vector<uint8_t> random_row(DType t, int64_t n, uint32_t seed, Scales kind = Scales::Typical) {
  std::vector<uint8_t> row(dtype_row_bytes(t, n));
  std::mt19937 rng(seed);
  for (auto& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> typical(0.001f, 0.05f), offset(-0.5f, 0.2f);
  const uint16_t extremes[] = {0x7bff, 0xfbff, 0x0001, 0x8001, 0x0000, 0x3c00, 0x0400, 0xc000};
  auto scale = [&] {
    return kind == Scales::Typical ? f32_to_fp16(typical(rng)) : extremes[rng() % (sizeof extremes / 2)];
  };
  auto min = [&] { return kind == Scales::Typical ? f32_to_fp16(offset(rng)) : extremes[rng() % (sizeof extremes / 2)]; };
  const int64_t nb = n / dtype_block_size(t);
  for (int64_t i = 0; i < nb; ++i) {
    switch (t) {
      case DType::Q4_1: {
        auto& b = reinterpret_cast<BlockQ4_1*>(row.data())[i];
        b.d = scale();
        b.m = min();
        break;
      }
      case DType::Q5_0: reinterpret_cast<BlockQ5_0*>(row.data())[i].d = scale(); break;
      case DType::Q5_1: {
        auto& b = reinterpret_cast<BlockQ5_1*>(row.data())[i];
        b.d = scale();
        b.m = min();
        break;
      }
      case DType::Q2_K: {
        auto& b = reinterpret_cast<BlockQ2_K*>(row.data())[i];
        b.d = scale();
        b.dmin = scale();
        break;
      }
      case DType::Q3_K: reinterpret_cast<BlockQ3_K*>(row.data())[i].d = scale(); break;
      case DType::Q5_K: {
        auto& b = reinterpret_cast<BlockQ5_K*>(row.data())[i];
        b.d = scale();
        b.dmin = scale();
        break;
      }
      default: ADD_FAILURE() << dtype_name(t);
    }
  }
  return row;
}

// The row with its offset scales (m, dmin) zeroed: what is left is the
// scale-times-value part of every weight.
std::vector<uint8_t> without_offsets(DType t, std::vector<uint8_t> row, int64_t n) {
  for (int64_t i = 0; i < n / dtype_block_size(t); ++i) {
    if (t == DType::Q4_1) reinterpret_cast<BlockQ4_1*>(row.data())[i].m = 0;
    if (t == DType::Q5_1) reinterpret_cast<BlockQ5_1*>(row.data())[i].m = 0;
    if (t == DType::Q2_K) reinterpret_cast<BlockQ2_K*>(row.data())[i].dmin = 0;
    if (t == DType::Q5_K) reinterpret_cast<BlockQ5_K*>(row.data())[i].dmin = 0;
  }
  return row;
}

std::vector<float> deq(DType t, const void* row, int64_t n) { return test::dequantize(t, row, n); }

std::vector<uint8_t> quantize_x(DType t, const std::vector<float>& x, int64_t n) {
  const DType vt = type_traits_ref(t)->vec_dot_type;
  std::vector<uint8_t> q(dtype_row_bytes(vt, n));
  type_traits_ref(vt)->from_float(x.data(), q.data(), n);
  return q;
}

// Sum of |terms| of the dot product, with the two parts of each weight
// (scale * value and offset) counted separately: the kernels add them as
// separate products, so that is the size their rounding scales with.
double magnitude(DType t, const std::vector<uint8_t>& w, const void* xq, int64_t n) {
  const auto full = deq(t, w.data(), n);
  const auto part = deq(t, without_offsets(t, w, n).data(), n);
  const auto xd = deq(type_traits_ref(t)->vec_dot_type, xq, n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += (std::fabs(static_cast<double>(part[i])) + std::fabs(static_cast<double>(full[i]) - part[i])) * std::fabs(xd[i]);
  return s;
}

// ---- hand-built blocks against the formulas ---------------------------------

TEST(KernelExtDequant, Q4_1HandBuilt) {
  BlockQ4_1 b;
  b.d = f32_to_fp16(0.5f);
  b.m = f32_to_fp16(-3.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  ref::to_float_q4_1(&b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 0.5f - 3.0f);
    EXPECT_EQ(y[j + 16], (15 - j) * 0.5f - 3.0f);
  }
}

// Fifth bits set for values 0, 5, 16 and 31 only.
void fill_q5_bits(uint8_t* qs, uint8_t* qh) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((j & 15) | (((j + 3) & 15) << 4));
  const uint32_t bits = (1u << 0) | (1u << 5) | (1u << 16) | (1u << 31);
  std::memcpy(qh, &bits, 4);
}
int q5_value(int j) {
  const int nib = j < 16 ? j : (j - 16 + 3) & 15;
  const bool top = j == 0 || j == 5 || j == 16 || j == 31;
  return nib + (top ? 16 : 0);
}

TEST(KernelExtDequant, Q5_0HandBuilt) {
  BlockQ5_0 b;
  b.d = f32_to_fp16(0.25f);
  fill_q5_bits(b.qs, b.qh);
  float y[32];
  ref::to_float_q5_0(&b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (q5_value(j) - 16) * 0.25f) << j;
}

TEST(KernelExtDequant, Q5_1HandBuilt) {
  BlockQ5_1 b;
  b.d = f32_to_fp16(0.25f);
  b.m = f32_to_fp16(1.5f);
  fill_q5_bits(b.qs, b.qh);
  float y[32];
  ref::to_float_q5_1(&b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], q5_value(j) * 0.25f + 1.5f) << j;
}

TEST(KernelExtDequant, Q2_KHandBuilt) {
  BlockQ2_K b;
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.25f);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>((g % 16) | ((15 - g) << 4));
  // Byte l of each half: value (l + k) % 4 in bit pair k.
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      uint8_t v = 0;
      for (int k = 0; k < 4; ++k) v = static_cast<uint8_t>(v | (((l + k) % 4) << (2 * k)));
      b.qs[32 * h + l] = v;
    }
  float y[256];
  ref::to_float_q2_k(&b, y, 256);
  for (int v = 0; v < 256; ++v) {
    const int g = v / 16, l = v % 32, k = (v / 32) % 4;
    EXPECT_EQ(y[v], 0.5f * g * ((l + k) % 4) - 0.25f * (15 - g)) << v;
  }
}

TEST(KernelExtDequant, Q3_KHandBuilt) {
  BlockQ3_K b;
  b.d = f32_to_fp16(0.5f);
  // Scales -32, -28, ..., 28: six bits stored with an offset of 32, split
  // into low nibbles (bytes 0..7) and top bit pairs (bytes 8..11).
  int sc[16];
  std::memset(b.scales, 0, sizeof b.scales);
  for (int j = 0; j < 16; ++j) {
    sc[j] = 4 * j - 32;
    const int s = sc[j] + 32;
    if (j < 8) b.scales[j] = static_cast<uint8_t>(b.scales[j] | (s & 15));
    else b.scales[j - 8] = static_cast<uint8_t>(b.scales[j - 8] | ((s & 15) << 4));
    b.scales[8 + j % 4] = static_cast<uint8_t>(b.scales[8 + j % 4] | ((s >> 4) << (2 * (j / 4))));
  }
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) b.qs[32 * h + l] = static_cast<uint8_t>(0b11100100 ^ (0x55 * (l & 3)));
  for (int l = 0; l < 32; ++l) b.hmask[l] = static_cast<uint8_t>(l * 37 + 11);
  float y[256];
  ref::to_float_q3_k(&b, y, 256);
  for (int v = 0; v < 256; ++v) {
    const int l = v % 32, k = (v / 32) % 4;
    const int low = k ^ (l & 3);  // pair k of 0b11100100 is k, each pair xor l & 3
    const int high = ((l * 37 + 11) >> (v / 32)) & 1;
    EXPECT_EQ(y[v], 0.5f * sc[v / 16] * ((low | (high << 2)) - 4)) << v;
  }
}

TEST(KernelExtDequant, Q5_KHandBuilt) {
  BlockQ5_K b;
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.25f);
  const int sc[8] = {1, 2, 3, 4, 37, 50, 7, 63};
  const int mn[8] = {10, 11, 12, 13, 20, 41, 16, 60};
  std::memset(b.scales, 0, sizeof b.scales);
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  for (int l = 0; l < 128; ++l) b.qs[l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  for (int l = 0; l < 32; ++l) b.qh[l] = static_cast<uint8_t>(l * 53 + 7);
  float y[256];
  ref::to_float_q5_k(&b, y, 256);
  for (int v = 0; v < 256; ++v) {
    const int c = v / 64, hi = (v / 32) % 2, l = v % 32;
    const int byte = 32 * c + l;
    const int nib = hi ? 15 - byte % 16 : byte % 16;
    const int top = ((l * 53 + 7) >> (v / 32)) & 1;
    EXPECT_EQ(y[v], 0.5f * sc[v / 32] * (nib + 16 * top) - 0.25f * mn[v / 32]) << v;
  }
}

// ---- the Q8_1 activations ---------------------------------------------------

TEST(KernelExtQ8_1, SameValuesAsQ8_0AndSumField) {
  auto x = random_floats(4128, 31, 2.0f);
  for (int j = 0; j < 32; ++j) x[j] = 0.0f;  // an all-zero block
  std::vector<BlockQ8_1> a(4128 / 32);
  std::vector<BlockQ8_0> b(4128 / 32);
  ref::from_float_q8_1(x.data(), a.data(), 4128);
  ref::from_float_q8_0(x.data(), b.data(), 4128);
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].d, b[i].d);
    ASSERT_EQ(std::memcmp(a[i].qs, b[i].qs, 32), 0);
    int sum = 0;
    float amax = 0;
    for (int j = 0; j < 32; ++j) {
      sum += a[i].qs[j];
      amax = std::max(amax, std::fabs(x[i * 32 + j]));
    }
    // s = d * sum(q) with the scale before its rounding to F16.
    EXPECT_EQ(a[i].s, f32_to_fp16(static_cast<float>(sum) * (amax / 127.0f))) << i;
  }
  EXPECT_EQ(a[0].d, 0);
  EXPECT_EQ(a[0].s, 0);
}

// ---- reference dots against the dequantized rows ----------------------------

TEST(KernelExtVecDot, ReferenceEqualsDequantizedDot) {
  for (DType t : kNewTypes) {
    SCOPED_TRACE(dtype_name(t));
    const DType vt = type_traits_ref(t)->vec_dot_type;
    for (int64_t n : lengths(t)) {
      const auto w = random_row(t, n, static_cast<uint32_t>(n) * 3 + 1);
      const auto xf = random_floats(n, static_cast<uint32_t>(n) * 3 + 2);
      const auto xq = quantize_x(t, xf, n);
      const auto wd = deq(t, w.data(), n), xd = deq(vt, xq.data(), n);
      double want = 0;
      for (int64_t i = 0; i < n; ++i) want += static_cast<double>(wd[i]) * xd[i];
      double tol = 1e-5 * magnitude(t, w, xq.data(), n);
      if (vt == DType::Q8_1) {
        // The offset term uses s = F16(d * sum q) from the activations, off
        // by at most two F16 roundings (of d and of s) from the exact one.
        const auto part = deq(t, without_offsets(t, w, n).data(), n);
        for (int64_t i = 0; i < n; i += kQK) {
          double off = 0;
          for (int j = 0; j < kQK; ++j) off += xd[i + j];
          tol += std::fabs((wd[i] - part[i]) * off) * 2.0 / 1024;
        }
      }
      float got;
      type_traits_ref(t)->vec_dot(n, &got, w.data(), xq.data());
      EXPECT_NEAR(got, want, tol) << n;
    }
  }
}

// ---- SIMD against the reference ---------------------------------------------

TEST(KernelExtDispatch, EveryIsaHasTheRows) {
  for_each_isa([](Isa isa) {
    for (DType t : kNewTypes) {
      const TypeTraits* tt = type_traits(t);
      ASSERT_NE(tt, nullptr) << dtype_name(t);
      EXPECT_EQ(tt->type, t);
      EXPECT_NE(tt->to_float, nullptr);
      EXPECT_NE(tt->vec_dot, nullptr);
      EXPECT_NE(type_traits(tt->vec_dot_type)->from_float, nullptr);
      if (isa != Isa::Scalar) {
        // The SIMD tables carry their own dot products (the tests above
        // would otherwise compare the reference with itself).
        EXPECT_NE(tt->vec_dot, type_traits_ref(t)->vec_dot) << dtype_name(t);
        EXPECT_NE(tt->vec_dot_n, nullptr) << dtype_name(t);
      }
    }
    if (isa != Isa::Scalar) {
      EXPECT_NE(type_traits(DType::Q8_1)->from_float, type_traits_ref(DType::Q8_1)->from_float);
    }
  });
  EXPECT_EQ(type_traits_ref(DType::Q4_1)->vec_dot_type, DType::Q8_1);
  EXPECT_EQ(type_traits_ref(DType::Q5_1)->vec_dot_type, DType::Q8_1);
  EXPECT_EQ(type_traits_ref(DType::Q5_0)->vec_dot_type, DType::Q8_0);
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q5_K}) EXPECT_EQ(type_traits_ref(t)->vec_dot_type, DType::Q8_K);
}

TEST(KernelExtVecDot, SimdMatchesReference) {
  for (Scales kind : {Scales::Typical, Scales::Extreme}) {
    for (DType t : kNewTypes) {
      SCOPED_TRACE(dtype_name(t));
      for (int64_t n : lengths(t)) {
        SCOPED_TRACE(n);
        const uint32_t seed = static_cast<uint32_t>(n) * 7 + (kind == Scales::Extreme ? 1000 : 0);
        const auto w = random_row(t, n, seed, kind);
        const auto xq = quantize_x(t, random_floats(n, seed + 1), n);
        const double tol = 1e-5 * magnitude(t, w, xq.data(), n) + 1e-30;
        float want;
        type_traits_ref(t)->vec_dot(n, &want, w.data(), xq.data());
        for_each_isa([&](Isa) {
          float got;
          type_traits(t)->vec_dot(n, &got, w.data(), xq.data());
          if (std::isinf(want)) EXPECT_EQ(got, want);
          else EXPECT_NEAR(got, want, tol);
        });
      }
    }
  }
}

TEST(KernelExtVecDot, MultiTokenEqualsSingleBitwise) {
  for_each_isa([](Isa) {
    for (DType t : kNewTypes) {
      const TypeTraits* tt = type_traits(t);
      if (!tt->vec_dot_n) continue;
      SCOPED_TRACE(dtype_name(t));
      for (int64_t n : lengths(t)) {
        const auto w = random_row(t, n, 11);
        const size_t xs = dtype_row_bytes(tt->vec_dot_type, n);
        std::vector<uint8_t> x(xs * kVecDotMaxN);
        const auto xf = random_floats(n * kVecDotMaxN, 12);
        for (int k = 0; k < kVecDotMaxN; ++k)
          type_traits(tt->vec_dot_type)->from_float(xf.data() + k * n, x.data() + k * xs, n);
        for (int nt = 1; nt <= kVecDotMaxN; ++nt) {
          float out[2 * kVecDotMaxN];
          tt->vec_dot_n(n, nt, out, 2, w.data(), x.data(), static_cast<int64_t>(xs));
          for (int k = 0; k < nt; ++k) {
            float one;
            tt->vec_dot(n, &one, w.data(), x.data() + k * xs);
            EXPECT_EQ(f32_to_bits(out[2 * k]), f32_to_bits(one)) << "n=" << n << " nt=" << nt << " k=" << k;
          }
        }
      }
    }
  });
}

TEST(KernelExtToFloat, SimdMatchesReferenceBitwise) {
  for (Scales kind : {Scales::Typical, Scales::Extreme}) {
    for (DType t : kNewTypes) {
      SCOPED_TRACE(dtype_name(t));
      for (int64_t n : lengths(t)) {
        const auto w = random_row(t, n, static_cast<uint32_t>(n) + 5, kind);
        const auto want = deq(t, w.data(), n);
        for_each_isa([&](Isa) {
          std::vector<float> got(static_cast<size_t>(n) + 1, -1.0f);
          type_traits(t)->to_float(w.data(), got.data(), n);
          EXPECT_EQ(got[n], -1.0f) << "wrote past the end";
          EXPECT_EQ(std::memcmp(got.data(), want.data(), static_cast<size_t>(n) * 4), 0) << n;
        });
      }
    }
  }
}

TEST(KernelExtFromFloat, Q8_1SimdMatchesReferenceBitwise) {
  const int64_t n = 4128;
  auto x = random_floats(n, 21, 4.0f);
  // A block with scale exactly 1 puts values on rounding ties (k + 0.5).
  x[0] = 127.0f;
  for (int j = 1; j < 32; ++j) x[j] = (j % 2 ? 1.0f : -1.0f) * (j + 0.5f);
  x[1] = 0.49999997f;
  x[2] = -0.0f;
  for (int j = 32; j < 64; ++j) x[j] = 0.0f;
  std::vector<uint8_t> want(dtype_row_bytes(DType::Q8_1, n));
  ref::from_float_q8_1(x.data(), want.data(), n);
  for_each_isa([&](Isa) {
    std::vector<uint8_t> got(want.size());
    type_traits(DType::Q8_1)->from_float(x.data(), got.data(), n);
    EXPECT_EQ(got, want);
  });
}

// A copy of `data` that ends right before an unreadable page.
class GuardedCopy {
 public:
  GuardedCopy(const void* data, size_t bytes) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_ = ((bytes + page - 1) / page + 1) * page;
    map_ = static_cast<uint8_t*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    EXPECT_NE(map_, MAP_FAILED);
    EXPECT_EQ(mprotect(map_ + size_ - page, page, PROT_NONE), 0);
    ptr_ = map_ + size_ - page - bytes;
    std::memcpy(ptr_, data, bytes);
  }
  ~GuardedCopy() { munmap(map_, size_); }
  GuardedCopy(const GuardedCopy&) = delete;
  GuardedCopy& operator=(const GuardedCopy&) = delete;
  const uint8_t* get() const { return ptr_; }

 private:
  uint8_t* map_;
  uint8_t* ptr_;
  size_t size_;
};

// Weights are used in place from the mapped file: no kernel reads past a row.
TEST(KernelExtBounds, RowsEndingAtAnUnmappedPage) {
  for (DType t : kNewTypes) {
    SCOPED_TRACE(dtype_name(t));
    for (int64_t blocks : {1, 3, 5}) {
      const int64_t n = dtype_block_size(t) * blocks;
      const DType vt = type_traits_ref(t)->vec_dot_type;
      const auto w = random_row(t, n, 77);
      const auto xf = random_floats(n, 78);
      const auto xq = quantize_x(t, xf, n);
      const GuardedCopy gw(w.data(), w.size()), gx(xq.data(), xq.size()), gf(xf.data(), xf.size() * 4);
      for_each_isa([&](Isa) {
        const TypeTraits* tt = type_traits(t);
        float out;
        tt->vec_dot(n, &out, gw.get(), gx.get());
        if (tt->vec_dot_n) tt->vec_dot_n(n, 1, &out, 1, gw.get(), gx.get(), 0);
        std::vector<float> y(static_cast<size_t>(n));
        tt->to_float(gw.get(), y.data(), n);
        std::vector<uint8_t> back(xq.size());
        type_traits(vt)->from_float(reinterpret_cast<const float*>(gf.get()), back.data(), n);
      });
    }
  }
}

// matmul over an odd number of rows and tokens equals the per-row dots of
// the quantized activations, bitwise, on every ISA.
TEST(KernelExtMatmul, EqualsRowDotsBitwise) {
  ThreadPool pool(2);
  const int64_t rows = 37, tokens = 7;
  for (DType t : kNewTypes) {
    SCOPED_TRACE(dtype_name(t));
    const int64_t cols = dtype_block_size(t) == kQK ? 352 : 768;
    std::vector<uint8_t> w;
    for (int64_t r = 0; r < rows; ++r) {
      const auto row = random_row(t, cols, 500 + static_cast<uint32_t>(r));
      w.insert(w.end(), row.begin(), row.end());
    }
    const auto x = random_floats(tokens * cols, 600);
    const size_t wr = dtype_row_bytes(t, cols);
    for_each_isa([&](Isa) {
      std::vector<float> y(rows * tokens);
      matmul(w.data(), t, rows, cols, x.data(), tokens, y.data(), pool);
      const TypeTraits* tt = type_traits(t);
      std::vector<uint8_t> xq(dtype_row_bytes(tt->vec_dot_type, cols));
      for (int64_t k = 0; k < tokens; ++k) {
        type_traits(tt->vec_dot_type)->from_float(x.data() + k * cols, xq.data(), cols);
        for (int64_t r = 0; r < rows; ++r) {
          float want;
          tt->vec_dot(cols, &want, w.data() + r * wr, xq.data());
          ASSERT_EQ(f32_to_bits(y[k * rows + r]), f32_to_bits(want)) << "row " << r << " token " << k;
        }
      }
    });
  }
}

}  // namespace
}  // namespace lineage
