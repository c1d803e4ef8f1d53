// Per-type kernel checks: hand-built blocks against the DESIGN.md formulas,
// quantizer error bounds, and every SIMD kernel against the scalar reference.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "kernels/ref/ref_kernels.h"
#include "kernels_test_util.h"

namespace lineage {
namespace {

using test::dequantize;
using test::for_each_isa;
using test::random_floats;
using test::random_row;

constexpr DType kComputeTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0,
                                   DType::Q4_0, DType::Q4_K, DType::Q6_K};

std::vector<int64_t> test_lengths(DType t) {
  const int bs = dtype_block_size(t);
  if (bs == 1) return {1, 7, 16, 33, 100, 1000, 4096};
  if (bs == kQK) return {32, 64, 96, 160, 288, 4128};  // odd block counts and ones past the SIMD width
  return {256, 512, 768, 2304};
}

TEST(KernelFp16, KnownValues) {
  EXPECT_EQ(f32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);  // rounds up to infinity
  EXPECT_EQ(f32_to_fp16(5.9604645e-8f), 0x0001);
  EXPECT_EQ(f32_to_fp16(2.9802322e-8f), 0x0000);           // tie to even (zero)
  EXPECT_EQ(f32_to_fp16(1.0f + 1.0f / 2048), 0x3c00);     // tie to even
  EXPECT_EQ(f32_to_fp16(1.0f + 3.0f / 2048), 0x3c02);     // tie to even (up)
  EXPECT_EQ(f32_to_fp16(6.1035156e-5f), 0x0400);          // smallest normal
  EXPECT_FLOAT_EQ(fp16_to_f32(0x3555), 0.33325195f);
  EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(NAN))));
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);  // tie to even
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
}

TEST(KernelFp16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_fp16(f), h) << std::hex << h;
    ASSERT_EQ(f32_to_bf16(bf16_to_f32(static_cast<uint16_t>(h))), h);
  }
}

TEST(KernelDequant, Q4_0HandBuilt) {
  BlockQ4_0 b;
  b.d = f32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  ref::to_float_q4_0(&b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f);
    EXPECT_EQ(y[j + 16], (7 - j) * 0.5f);
  }
}

TEST(KernelDequant, Q8_0HandBuilt) {
  BlockQ8_0 b;
  b.d = f32_to_fp16(0.25f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 127);
  float y[32];
  ref::to_float_q8_0(&b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 127) * 0.25f);
}

TEST(KernelDequant, Q4_KHandBuilt) {
  BlockQ4_K b;
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.25f);
  // Scales 1..8 and mins 10..17 (j >= 4 needs the split encoding: low nibble
  // in bytes 8..11, top two bits in the top bits of bytes 0..7).
  const int sc[8] = {1, 2, 3, 4, 37, 50, 7, 63};
  const int mn[8] = {10, 11, 12, 13, 20, 41, 16, 60};
  std::memset(b.scales, 0, sizeof b.scales);
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  for (int l = 0; l < 128; ++l) b.qs[l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  float y[256];
  ref::to_float_q4_k(&b, y, 256);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int q = (32 * c + l) % 16;
      EXPECT_EQ(y[64 * c + l], 0.5f * sc[2 * c] * q - 0.25f * mn[2 * c]) << c << " " << l;
      EXPECT_EQ(y[64 * c + 32 + l], 0.5f * sc[2 * c + 1] * (15 - q) - 0.25f * mn[2 * c + 1]);
    }
  }
}

TEST(KernelDequant, Q6_KHandBuilt) {
  BlockQ6_K b;
  b.d = f32_to_fp16(1.0f);
  std::memset(b.ql, 0x21, sizeof b.ql);
  std::memset(b.qh, 0xe4, sizeof b.qh);  // high bits 0, 1, 2, 3 for the four quarters
  for (int k = 0; k < 16; ++k) b.scales[k] = static_cast<int8_t>(k - 8);
  float y[256];
  ref::to_float_q6_k(&b, y, 256);
  // ql 0x21: low nibble 1, high nibble 2.
  const int q[4] = {1 + 0 - 32, 1 + 16 - 32, 2 + 32 - 32, 2 + 48 - 32};
  for (int h = 0; h < 2; ++h)
    for (int quarter = 0; quarter < 4; ++quarter)
      for (int l = 0; l < 32; ++l) {
        const int i = 128 * h + 32 * quarter + l;
        EXPECT_EQ(y[i], static_cast<float>((i / 16 - 8) * q[quarter])) << i;
      }
}

TEST(KernelQuantize, Q8_0RoundTripBound) {
  const auto x = random_floats(4096, 1, 3.0f);
  std::vector<uint8_t> q(dtype_row_bytes(DType::Q8_0, 4096));
  ref::from_float_q8_0(x.data(), q.data(), 4096);
  const auto y = dequantize(DType::Q8_0, q.data(), 4096);
  for (int b = 0; b < 4096 / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127;
    // Half a step, plus what rounding d to F16 moves the largest value.
    for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(x[b * 32 + j] - y[b * 32 + j]), d * 0.5f + amax / 1024);
  }
}

TEST(KernelQuantize, Q4_0RoundTripBound) {
  const auto x = random_floats(4096, 2, 3.0f);
  std::vector<uint8_t> q(dtype_row_bytes(DType::Q4_0, 4096));
  ref::from_float_q4_0(x.data(), q.data(), 4096);
  const auto y = dequantize(DType::Q4_0, q.data(), 4096);
  for (int b = 0; b < 4096 / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 8;
    // Half a step, but a full step on the side clamped at +7.
    for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(x[b * 32 + j] - y[b * 32 + j]), d + amax / 1024);
  }
}

TEST(KernelQuantize, Q8_KRoundTripAndSums) {
  const auto x = random_floats(768, 3, 2.0f);
  std::vector<BlockQ8_K> q(3);
  ref::from_float_q8_k(x.data(), q.data(), 768);
  const auto y = dequantize(DType::Q8_K, q.data(), 768);
  for (int b = 0; b < 3; ++b) {
    for (int j = 0; j < 256; ++j) EXPECT_LE(std::fabs(x[b * 256 + j] - y[b * 256 + j]), q[b].d * 0.5001f);
    for (int k = 0; k < 16; ++k) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += q[b].qs[16 * k + j];
      EXPECT_EQ(q[b].bsums[k], s);
    }
  }
  std::vector<float> zeros(256, 0.0f);
  ref::from_float_q8_k(zeros.data(), q.data(), 256);
  EXPECT_EQ(q[0].d, 0.0f);
}

TEST(KernelQuantize, ZeroBlocksStayZero) {
  std::vector<float> zeros(64, 0.0f);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    std::vector<uint8_t> q(dtype_row_bytes(t, 64));
    type_traits_ref(t)->from_float(zeros.data(), q.data(), 64);
    for (float v : dequantize(t, q.data(), 64)) EXPECT_EQ(v, 0.0f);
  }
}

TEST(KernelDispatch, TablesCoverComputeTypes) {
  EXPECT_NE(isa_name(active_isa()), nullptr);
  for_each_isa([](Isa) {
    for (DType t : kComputeTypes) {
      const TypeTraits* tt = type_traits(t);
      ASSERT_NE(tt, nullptr) << dtype_name(t);
      EXPECT_EQ(tt->type, t);
      EXPECT_NE(tt->to_float, nullptr);
      EXPECT_NE(tt->vec_dot, nullptr);
      EXPECT_NE(type_traits(tt->vec_dot_type)->from_float, nullptr);
    }
  });
  EXPECT_EQ(type_traits(DType::IQ2_XXS), nullptr);
}

// Integer partial sums are exact in every path, so SIMD and scalar differ
// only in float summation order: within 1e-5 of the sum of |terms|.
TEST(KernelVecDot, SimdMatchesReference) {
  for (DType t : kComputeTypes) {
    SCOPED_TRACE(dtype_name(t));
    const TypeTraits* ref = type_traits_ref(t);
    const TypeTraits* xref = type_traits_ref(ref->vec_dot_type);
    for (int64_t n : test_lengths(t)) {
      SCOPED_TRACE(n);
      const auto w = random_row(t, n, static_cast<uint32_t>(n) * 7 + 1);
      const auto xf = random_floats(n, static_cast<uint32_t>(n) * 7 + 2);
      std::vector<uint8_t> x(dtype_row_bytes(ref->vec_dot_type, n));
      xref->from_float(xf.data(), x.data(), n);
      const auto wd = dequantize(t, w.data(), n);
      const auto xd = dequantize(ref->vec_dot_type, x.data(), n);
      double abs_sum = 0;
      for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(static_cast<double>(wd[i]) * xd[i]);
      float want;
      ref->vec_dot(n, &want, w.data(), x.data());
      for_each_isa([&](Isa) {
        float got;
        type_traits(t)->vec_dot(n, &got, w.data(), x.data());
        EXPECT_NEAR(got, want, 1e-5 * abs_sum + 1e-30);
      });
    }
  }
}

TEST(KernelVecDot, MultiTokenEqualsSingleBitwise) {
  for_each_isa([](Isa) {
    for (DType t : kComputeTypes) {
      const TypeTraits* tt = type_traits(t);
      if (!tt->vec_dot_n) continue;
      SCOPED_TRACE(dtype_name(t));
      const int64_t n = dtype_block_size(t) == kQKK ? 768 : 96 * 3;
      const auto w = random_row(t, n, 11);
      const size_t xs = dtype_row_bytes(tt->vec_dot_type, n);
      std::vector<uint8_t> x(xs * kVecDotMaxN);
      const auto xf = random_floats(n * kVecDotMaxN, 12);
      for (int k = 0; k < kVecDotMaxN; ++k) type_traits(tt->vec_dot_type)->from_float(xf.data() + k * n, x.data() + k * xs, n);
      for (int nt = 1; nt <= kVecDotMaxN; ++nt) {
        float out[2 * kVecDotMaxN];
        tt->vec_dot_n(n, nt, out, 2, w.data(), x.data(), static_cast<int64_t>(xs));
        for (int k = 0; k < nt; ++k) {
          float one;
          tt->vec_dot(n, &one, w.data(), x.data() + k * xs);
          EXPECT_EQ(f32_to_bits(out[2 * k]), f32_to_bits(one)) << "nt=" << nt << " k=" << k;
        }
      }
    }
  });
}

// Dequantization is exact arithmetic on the same inputs in every path.
TEST(KernelToFloat, SimdMatchesReferenceBitwise) {
  for (DType t : kComputeTypes) {
    SCOPED_TRACE(dtype_name(t));
    for (int64_t n : test_lengths(t)) {
      const auto w = random_row(t, n, static_cast<uint32_t>(n) + 5);
      const auto want = dequantize(t, w.data(), n);
      for_each_isa([&](Isa) {
        std::vector<float> got(static_cast<size_t>(n) + 1, -1.0f);
        type_traits(t)->to_float(w.data(), got.data(), n);
        EXPECT_EQ(got[n], -1.0f) << "wrote past the end";
        EXPECT_EQ(std::memcmp(got.data(), want.data(), static_cast<size_t>(n) * 4), 0) << n;
      });
    }
  }
}

TEST(KernelFromFloat, SimdMatchesReferenceBitwise) {
  for (DType t : {DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q8_K}) {
    SCOPED_TRACE(dtype_name(t));
    const int64_t n = dtype_block_size(t) == kQKK ? 512 : 4128;
    auto x = random_floats(n, 21, 4.0f);
    // A block whose scale is exactly 1 puts values on rounding ties (k + 0.5),
    // where roundf and round-to-even part ways.
    x[0] = 127.0f;
    for (int j = 1; j < 32; ++j) x[j] = (j % 2 ? 1.0f : -1.0f) * (j + 0.5f);
    x[1] = 0.49999997f;
    x[2] = -0.0f;
    std::vector<uint8_t> want(dtype_row_bytes(t, n));
    type_traits_ref(t)->from_float(x.data(), want.data(), n);
    for_each_isa([&](Isa) {
      std::vector<uint8_t> got(want.size());
      type_traits(t)->from_float(x.data(), got.data(), n);
      EXPECT_EQ(got, want);
    });
  }
}

// A copy of `data` whose last byte is followed by an unreadable page.
class GuardedCopy {
 public:
  explicit GuardedCopy(const void* data, size_t bytes) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    pages_ = (bytes + page - 1) / page + 1;
    size_ = pages_ * page;
    map_ = static_cast<uint8_t*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    EXPECT_NE(map_, MAP_FAILED);
    EXPECT_EQ(mprotect(map_ + size_ - page, page, PROT_NONE), 0);
    ptr_ = map_ + size_ - page - bytes;
    std::memcpy(ptr_, data, bytes);
  }
  ~GuardedCopy() { munmap(map_, size_); }
  uint8_t* get() const { return ptr_; }

 private:
  uint8_t* map_;
  uint8_t* ptr_;
  size_t pages_, size_;
};

// Weights are used in place from the mapped file, so a tensor may end at the
// last byte of the mapping: no kernel may read past the end of a row.
TEST(KernelBounds, RowsEndingAtAnUnmappedPage) {
  for (DType t : kComputeTypes) {
    SCOPED_TRACE(dtype_name(t));
    const int64_t n = dtype_block_size(t) == 1 ? 37 : dtype_block_size(t) * 5;
    const DType vt = type_traits_ref(t)->vec_dot_type;
    const auto w = random_row(t, n, 77);
    const auto xf = random_floats(n, 78);
    std::vector<uint8_t> xq(dtype_row_bytes(vt, n));
    type_traits_ref(vt)->from_float(xf.data(), xq.data(), n);
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

}  // namespace
}  // namespace lineage
