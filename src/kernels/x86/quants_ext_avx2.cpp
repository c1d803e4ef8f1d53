// AVX2 + FMA + F16C kernels for Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K and the
// Q8_1 activation quantizer. Internal linkage for everything but the install
// function, intrinsics headers only (see kernels_avx2.cpp). Byte products go
// through vpmaddubsw (unsigned x signed, pairs summed to int16): weight
// values are at most 31 and activations at most 127 in magnitude, so the
// pair sums never saturate. Every (row, token) result takes the same
// instruction sequence whatever the token count, so vec_dot_n equals vec_dot
// bitwise.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/isa_kernels.h"
#include "kernels/quant_blocks_ext.h"

namespace lineage {
namespace {

float h2f(uint16_t h) { return _cvtsh_ss(h); }

float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Unsigned bytes q times signed bytes x, summed in groups of four into int32.
__m256i dot_u8_i8(__m256i q, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), _mm256_set1_epi16(1));
}

// ---- 32-value blocks: Q4_1, Q5_0, Q5_1 -----------------------------------

template <typename Block>
constexpr bool kHasMin = !std::is_same_v<Block, BlockQ5_0>;
template <typename Block>
constexpr bool kHasHigh = !std::is_same_v<Block, BlockQ4_1>;

// Byte i of the result is 0xff where bit i of `bits` is set.
__m256i expand_bits(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                                             _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202,
                                                                0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// The 32 unsigned values of a block in value order.
template <typename Block>
__m256i unpack(const Block& b) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(15));
  if constexpr (kHasHigh<Block>) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    q = _mm256_or_si256(q, _mm256_and_si256(expand_bits(qh), _mm256_set1_epi8(16)));
  }
  return q;
}

// Q5_0 values are q - 16: signed, so the sign of x moves onto them and |x|
// becomes the unsigned operand.
template <typename Block>
__m256i block_dot(__m256i q, __m256i x) {
  if constexpr (kHasMin<Block>) {
    return dot_u8_i8(q, x);
  } else {
    const __m256i w = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
    return dot_u8_i8(_mm256_abs_epi8(x), _mm256_sign_epi8(w, x));
  }
}

template <int NT, typename Block, typename XBlock>
void dot_legacy(int64_t n, float* out, int64_t out_stride, const void* w, const void* x, int64_t x_stride) {
  const Block* a = static_cast<const Block*>(w);
  const char* xb = static_cast<const char*>(x);
  __m256 acc[NT];
  float acc_min[NT];
  for (int k = 0; k < NT; ++k) {
    acc[k] = _mm256_setzero_ps();
    acc_min[k] = 0.0f;
  }
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = unpack(a[i]);
    const float d = h2f(a[i].d);
    for (int k = 0; k < NT; ++k) {
      const XBlock& bx = reinterpret_cast<const XBlock*>(xb + k * x_stride)[i];
      const __m256i isum = block_dot<Block>(q, load256(bx.qs));
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * h2f(bx.d)), acc[k]);
      if constexpr (kHasMin<Block>) acc_min[k] += h2f(a[i].m) * h2f(bx.s);
    }
  }
  for (int k = 0; k < NT; ++k) out[k * out_stride] = hsum8(acc[k]) + acc_min[k];
}

// ---- K types against Q8_K -----------------------------------------------
//
// A super-block is decoded to eight vectors of 32 unsigned values (chunk c
// holds values 32c..32c+31), 16 scales (one per 16 values) and 16 offset
// multipliers for the Q8_K per-16 sums.

struct KBlock {
  __m256i q[8];
  __m256i sc_lo, sc_hi;  // scales 0..7 and 8..15 as int32
  __m256i mn16;          // 16 offset multipliers as int16
  float d, dmin;
};

void decode(const BlockQ2_K& b, KBlock& k) {
  const __m256i low2 = _mm256_set1_epi8(3);
  for (int c = 0; c < 8; ++c)
    k.q[c] = _mm256_and_si256(_mm256_srli_epi16(load256(b.qs + 32 * (c / 4)), 2 * (c % 4)), low2);
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
  const __m128i sc = _mm_and_si128(packed, _mm_set1_epi8(15));
  k.sc_lo = _mm256_cvtepu8_epi32(sc);
  k.sc_hi = _mm256_cvtepu8_epi32(_mm_srli_si128(sc, 8));
  k.mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15)));
  k.d = h2f(b.d);
  k.dmin = h2f(b.dmin);
}

// Q3_K scales: low nibbles in bytes 0..7 (scales 0..7 low, 8..15 high
// nibble), top two bits of scale j at bits 2 * (j / 4) of byte 8 + j % 4.
__m128i q3_k_scales(const uint8_t* p) {
  uint32_t u[3];
  std::memcpy(u, p, 12);
  const uint32_t l4 = 0x0f0f0f0fu, h2 = 0x03030303u;
  const uint32_t s0 = (u[0] & l4) | ((u[2] & h2) << 4);
  const uint32_t s1 = (u[1] & l4) | (((u[2] >> 2) & h2) << 4);
  const uint32_t s2 = ((u[0] >> 4) & l4) | (((u[2] >> 4) & h2) << 4);
  const uint32_t s3 = ((u[1] >> 4) & l4) | (((u[2] >> 6) & h2) << 4);
  return _mm_sub_epi8(_mm_setr_epi32(static_cast<int>(s0), static_cast<int>(s1), static_cast<int>(s2),
                                     static_cast<int>(s3)),
                      _mm_set1_epi8(32));
}

// Values q3 = low2 | high << 2 for q3 - 4; the -4 is an offset with
// multiplier 4 * sc and the same d.
void decode(const BlockQ3_K& b, KBlock& k) {
  const __m256i low2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  const __m256i hm = load256(b.hmask);
  for (int c = 0; c < 8; ++c) {
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(load256(b.qs + 32 * (c / 4)), 2 * (c % 4)), low2);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hm, c), one);
    k.q[c] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
  }
  const __m128i sc = q3_k_scales(b.scales);
  k.sc_lo = _mm256_cvtepi8_epi32(sc);
  k.sc_hi = _mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8));
  k.mn16 = _mm256_slli_epi16(_mm256_cvtepi8_epi16(sc), 2);
  k.d = k.dmin = h2f(b.d);
}

void k4_scales(const uint8_t* packed, uint8_t* sc, uint8_t* mn) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t s[2] = {u[0] & 0x3f3f3f3fu, (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u)};
  const uint32_t m[2] = {u[1] & 0x3f3f3f3fu, ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u)};
  std::memcpy(sc, s, 8);
  std::memcpy(mn, m, 8);
}

void decode(const BlockQ5_K& b, KBlock& k) {
  const __m256i low4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
  const __m256i qh = load256(b.qh);
  for (int c = 0; c < 8; ++c) {
    const __m256i nib = _mm256_and_si256(_mm256_srli_epi16(load256(b.qs + 32 * (c / 2)), 4 * (c % 2)), low4);
    const __m256i top = _mm256_and_si256(_mm256_srli_epi16(qh, c), one);
    k.q[c] = _mm256_or_si256(nib, _mm256_slli_epi16(top, 4));
  }
  alignas(16) uint8_t sc[16], mn[16];
  k4_scales(b.scales, sc, mn);
  // One scale per 32 values: each serves two consecutive 16-value groups.
  const __m128i s8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc));
  const __m128i s16 = _mm_unpacklo_epi8(s8, s8);
  const __m128i m8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn));
  k.sc_lo = _mm256_cvtepu8_epi32(s16);
  k.sc_hi = _mm256_cvtepu8_epi32(_mm_srli_si128(s16, 8));
  k.mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
  k.d = h2f(b.d);
  k.dmin = h2f(b.dmin);
}

template <int NT, typename Block>
void dot_k(int64_t n, float* out, int64_t out_stride, const void* w, const void* x, int64_t x_stride) {
  constexpr bool kIntOffset = std::is_same_v<Block, BlockQ3_K>;
  const Block* a = static_cast<const Block*>(w);
  const char* xb = static_cast<const char*>(x);
  // int32 lane L of a 32-value chunk covers values 4L..4L+3: group L / 4.
  __m256i pick[4];
  for (int j = 0; j < 4; ++j) pick[j] = _mm256_setr_epi32(2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1);
  __m256 acc[NT], accm[NT];
  for (int k = 0; k < NT; ++k) acc[k] = accm[k] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    KBlock kb;
    decode(a[i], kb);
    __m256i s[8];
    for (int c = 0; c < 8; ++c) s[c] = _mm256_permutevar8x32_epi32(c < 4 ? kb.sc_lo : kb.sc_hi, pick[c % 4]);
    for (int k = 0; k < NT; ++k) {
      const BlockQ8_K& bx = reinterpret_cast<const BlockQ8_K*>(xb + k * x_stride)[i];
      __m256i isum = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c)
        isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(dot_u8_i8(kb.q[c], load256(bx.qs + 32 * c)), s[c]));
      const __m256i msum = _mm256_madd_epi16(load256(bx.bsums), kb.mn16);
      if constexpr (kIntOffset) {
        isum = _mm256_sub_epi32(isum, msum);
      } else {
        accm[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(bx.d * kb.dmin), accm[k]);
      }
      acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(bx.d * kb.d), acc[k]);
    }
  }
  for (int k = 0; k < NT; ++k) out[k * out_stride] = hsum8(acc[k]) - hsum8(accm[k]);
}

// ---- entry points ---------------------------------------------------------

using DotFn = void (*)(int64_t, float*, int64_t, const void*, const void*, int64_t);

template <DotFn F1, DotFn F2, DotFn F3, DotFn F4>
void by_count(int64_t n, int nt, float* out, int64_t os, const void* w, const void* x, int64_t xs) {
  switch (nt) {
    case 1: F1(n, out, os, w, x, xs); break;
    case 2: F2(n, out, os, w, x, xs); break;
    case 3: F3(n, out, os, w, x, xs); break;
    default: F4(n, out, os, w, x, xs); break;
  }
}

template <typename Block, typename XBlock>
void vec_dot_legacy(int64_t n, float* out, const void* w, const void* x) {
  dot_legacy<1, Block, XBlock>(n, out, 0, w, x, 0);
}
template <typename Block, typename XBlock>
constexpr VecDotNFn legacy_n = by_count<dot_legacy<1, Block, XBlock>, dot_legacy<2, Block, XBlock>,
                                        dot_legacy<3, Block, XBlock>, dot_legacy<4, Block, XBlock>>;

template <typename Block>
void vec_dot_k(int64_t n, float* out, const void* w, const void* x) {
  dot_k<1, Block>(n, out, 0, w, x, 0);
}
template <typename Block>
constexpr VecDotNFn k_n = by_count<dot_k<1, Block>, dot_k<2, Block>, dot_k<3, Block>, dot_k<4, Block>>;

// roundf: halves away from zero; v - trunc(v) is exact.
__m256 round_half_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
  const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
  const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(_mm256_set1_ps(1.0f), sign)));
}

// Bit-identical to the scalar quantizer.
void from_float_q8_1(const float* src, void* dst, int64_t n) {
  BlockQ8_1* b = static_cast<BlockQ8_1*>(dst);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t i = 0; i < n / kQK; ++i) {
    __m256 x[4];
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm256_loadu_ps(src + i * kQK + 8 * j);
      m = _mm256_max_ps(m, _mm256_and_ps(x[j], abs_mask));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(x[j], vid)));
    // packs interleave 128-bit lanes; the permute puts the 32 bytes back in order.
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
    const int sum = _mm_cvtsi128_si32(s4);
    b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    b[i].s = _cvtss_sh(static_cast<float>(sum) * d, _MM_FROUND_TO_NEAREST_INT);
  }
}

}  // namespace

void install_avx2_ext_kernels(TypeTraits* t) {
  t[static_cast<int>(DType::Q8_1)].from_float = from_float_q8_1;
  auto set = [&](DType type, VecDotFn dot, VecDotNFn dot_n) {
    t[static_cast<int>(type)].vec_dot = dot;
    t[static_cast<int>(type)].vec_dot_n = dot_n;
  };
  set(DType::Q4_1, vec_dot_legacy<BlockQ4_1, BlockQ8_1>, legacy_n<BlockQ4_1, BlockQ8_1>);
  set(DType::Q5_0, vec_dot_legacy<BlockQ5_0, BlockQ8_0>, legacy_n<BlockQ5_0, BlockQ8_0>);
  set(DType::Q5_1, vec_dot_legacy<BlockQ5_1, BlockQ8_1>, legacy_n<BlockQ5_1, BlockQ8_1>);
  set(DType::Q2_K, vec_dot_k<BlockQ2_K>, k_n<BlockQ2_K>);
  set(DType::Q3_K, vec_dot_k<BlockQ3_K>, k_n<BlockQ3_K>);
  set(DType::Q5_K, vec_dot_k<BlockQ5_K>, k_n<BlockQ5_K>);
}

}  // namespace lineage
