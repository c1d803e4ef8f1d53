// AVX-512 (F/BW/VL/DQ) + VNNI kernels for Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K
// and the Q8_1 activation quantizer. Like every per-ISA file: internal
// linkage for everything but the install function, intrinsics headers only.
// Weight values stay unsigned for vpdpbusd (unsigned x signed bytes); fixed
// offsets (Q5_0's 16, Q3_K's 4) come back through sums of the activations.
// Every (row, token) result takes the same instruction sequence whatever the
// token count, so vec_dot_n equals vec_dot bitwise.
// GCC 12 flags its own _mm512_undefined_* helpers inside the cast and
// insert intrinsics as (maybe-)uninitialized; the warning is spurious.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/isa_kernels.h"
#include "kernels/quant_blocks_ext.h"

namespace lineage {
namespace {

float h2f(uint16_t h) { return _cvtsh_ss(h); }

float hsum4(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
float hsum8(__m256 v) { return hsum4(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))); }
float hsum16(__m512 v) { return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1))); }

__m512i pair256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
__m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// ---- 32-value blocks: Q4_1, Q5_0, Q5_1 -----------------------------------
//
// Four blocks at a time: two 64-byte loads (the group's first and last 64
// bytes, so nothing past the group is touched) and vpermw picks out the
// quant bytes of blocks (0, 1) and (2, 3), each twice so that a shift by 4
// of the second copy yields the high nibbles, and the F16 scales, offsets
// and fifth-bit words of all four. Every field starts at an even byte.

struct WordTable {
  alignas(64) int16_t w[32];
};

// Word index into (head = bytes [0, 64), tail = bytes [g - 64, g)) of the
// word at byte `at` of a g-byte group.
constexpr int16_t word_of(int at, int g) { return static_cast<int16_t>(at + 2 <= 64 ? at / 2 : 32 + (at - (g - 64)) / 2); }

template <typename Block>
constexpr WordTable quant_words(int first) {
  WordTable t{};
  constexpr int g = 4 * static_cast<int>(sizeof(Block));
  for (int k = 0; k < 32; ++k) {
    const int block = first + k / 16;
    t.w[k] = word_of(block * static_cast<int>(sizeof(Block)) + static_cast<int>(offsetof(Block, qs)) + 2 * (k % 8), g);
  }
  return t;
}

// Words 0..3: d of blocks 0..3; 4..7: m (or d again); 8..15: the qh words.
template <typename Block, bool kMin, bool kHigh>
constexpr WordTable scale_words() {
  WordTable t{};
  constexpr int g = 4 * static_cast<int>(sizeof(Block));
  constexpr int b = static_cast<int>(sizeof(Block));
  for (int k = 0; k < 4; ++k) {
    t.w[k] = word_of(b * k, g);
    t.w[4 + k] = word_of(b * k + (kMin ? 2 : 0), g);
    if constexpr (kHigh) {
      const int qh = b * k + (kMin ? 4 : 2);
      t.w[8 + 2 * k] = word_of(qh, g);
      t.w[9 + 2 * k] = word_of(qh + 2, g);
    }
  }
  return t;
}

template <typename Block>
struct Legacy;
template <>
struct Legacy<BlockQ4_1> {
  static constexpr bool kMin = true, kHigh = false;
};
template <>
struct Legacy<BlockQ5_0> {
  static constexpr bool kMin = false, kHigh = true;
};
template <>
struct Legacy<BlockQ5_1> {
  static constexpr bool kMin = true, kHigh = true;
};

template <typename Block>
struct LegacyTables {
  static constexpr bool kMin = Legacy<Block>::kMin, kHigh = Legacy<Block>::kHigh;
  static constexpr WordTable pick_ab = quant_words<Block>(0), pick_cd = quant_words<Block>(2);
  static constexpr WordTable pick_sc = scale_words<Block, kMin, kHigh>();
};

struct WeightGroup {
  __m512i ab, cd;  // unsigned values of blocks 0, 1 and 2, 3 in value order
  __m128 d, m;     // per-block scale and offset
};

template <typename Block>
WeightGroup load_weight_group(const Block* b) {
  using T = LegacyTables<Block>;
  constexpr int g = 4 * static_cast<int>(sizeof(Block));
  const char* base = reinterpret_cast<const char*>(b);
  const __m512i head = _mm512_loadu_si512(base), tail = _mm512_loadu_si512(base + g - 64);
  const __m512i shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
  const __m512i low4 = _mm512_set1_epi8(15);
  WeightGroup w;
  w.ab = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutex2var_epi16(head, _mm512_load_si512(T::pick_ab.w), tail), shift), low4);
  w.cd = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutex2var_epi16(head, _mm512_load_si512(T::pick_cd.w), tail), shift), low4);
  const __m512i sc = _mm512_permutex2var_epi16(head, _mm512_load_si512(T::pick_sc.w), tail);
  const __m256 dm = _mm256_cvtph_ps(_mm512_castsi512_si128(sc));
  w.d = _mm256_castps256_ps128(dm);
  w.m = _mm256_extractf128_ps(dm, 1);
  if constexpr (T::kHigh) {
    // qh of blocks (0, 1) and (2, 3) as 64-bit masks: bit i is byte i's fifth bit.
    const __m128i h = _mm512_extracti32x4_epi32(sc, 1);
    const __m512i sixteen = _mm512_set1_epi8(16);
    w.ab = _mm512_mask_add_epi8(w.ab, _cvtu64_mask64(static_cast<uint64_t>(_mm_cvtsi128_si64(h))), w.ab, sixteen);
    w.cd = _mm512_mask_add_epi8(w.cd, _cvtu64_mask64(static_cast<uint64_t>(_mm_extract_epi64(h, 1))), w.cd, sixteen);
  }
  return w;
}

// One block as 32 unsigned values (the tail of a row).
template <typename Block>
__m256i load_weight_block(const Block& b) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(15));
  if constexpr (Legacy<Block>::kHigh) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    q = _mm256_mask_add_epi8(q, _cvtu32_mask32(qh), q, _mm256_set1_epi8(16));
  }
  return q;
}
template <typename Block>
float block_min(const Block& b) {
  if constexpr (Legacy<Block>::kMin) return h2f(b.m);
  else return 0.0f;
}

// Activation scales of four consecutive Q8_0 (34-byte) or Q8_1 (36-byte)
// blocks: words 0..3 d, 4..7 s (Q8_1 only).
template <typename XBlock>
constexpr WordTable act_words() {
  WordTable t{};
  constexpr int b = static_cast<int>(sizeof(XBlock));
  for (int k = 0; k < 4; ++k) {
    t.w[k] = static_cast<int16_t>(b * k / 2);
    t.w[4 + k] = static_cast<int16_t>((b * k + 2) / 2);
  }
  return t;
}
template <typename XBlock>
struct ActTables {
  static constexpr WordTable pick = act_words<XBlock>();
};

template <typename XBlock>
__m256 load_act_scales(const XBlock* x) {
  const char* base = reinterpret_cast<const char*>(x);
  const __m512i h = _mm512_permutex2var_epi16(_mm512_loadu_si512(base), _mm512_load_si512(ActTables<XBlock>::pick.w),
                                              _mm512_loadu_si512(base + 64));
  return _mm256_cvtph_ps(_mm512_castsi512_si128(h));
}

// Q5_0 values carry an offset of 16; Q4_1 / Q5_1 have none (their offset is
// the float m, applied through the activations' s).
template <typename Block>
__m512i dot64(__m512i q, __m512i x) {
  const __m512i z = _mm512_setzero_si512();
  if constexpr (Legacy<Block>::kMin) return _mm512_dpbusd_epi32(z, q, x);
  else return _mm512_sub_epi32(_mm512_dpbusd_epi32(z, q, x), _mm512_dpbusd_epi32(z, _mm512_set1_epi8(16), x));
}
template <typename Block>
__m256i dot32(__m256i q, __m256i x) {
  const __m256i z = _mm256_setzero_si256();
  if constexpr (Legacy<Block>::kMin) return _mm256_dpbusd_epi32(z, q, x);
  else return _mm256_sub_epi32(_mm256_dpbusd_epi32(z, q, x), _mm256_dpbusd_epi32(z, _mm256_set1_epi8(16), x));
}

template <int NT, typename Block, typename XBlock>
void dot_legacy(int64_t n, float* out, int64_t out_stride, const void* w, const void* x, int64_t x_stride) {
  const Block* a = static_cast<const Block*>(w);
  const char* xb = static_cast<const char*>(x);
  const __m512i spread_lo = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i spread_hi = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  __m512 acc0[NT], acc1[NT];
  __m128 acc_min[NT];
  __m256 acc_tail[NT];
  float tail_min[NT];
  for (int k = 0; k < NT; ++k) {
    acc0[k] = acc1[k] = _mm512_setzero_ps();
    acc_min[k] = _mm_setzero_ps();
    acc_tail[k] = _mm256_setzero_ps();
    tail_min[k] = 0.0f;
  }
  const int64_t nb = n / kQK;
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    const WeightGroup g = load_weight_group(a + i);
    for (int k = 0; k < NT; ++k) {
      const XBlock* bx = reinterpret_cast<const XBlock*>(xb + k * x_stride) + i;
      const __m512i ia = dot64<Block>(g.ab, pair256(load256(bx[0].qs), load256(bx[1].qs)));
      const __m512i ic = dot64<Block>(g.cd, pair256(load256(bx[2].qs), load256(bx[3].qs)));
      const __m256 xs = load_act_scales(bx);
      const __m512 s = _mm512_castps128_ps512(_mm_mul_ps(g.d, _mm256_castps256_ps128(xs)));
      acc0[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia), _mm512_permutexvar_ps(spread_lo, s), acc0[k]);
      acc1[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ic), _mm512_permutexvar_ps(spread_hi, s), acc1[k]);
      if constexpr (Legacy<Block>::kMin) acc_min[k] = _mm_fmadd_ps(g.m, _mm256_extractf128_ps(xs, 1), acc_min[k]);
    }
  }
  for (; i < nb; ++i) {
    const __m256i q = load_weight_block(a[i]);
    const float d = h2f(a[i].d), m = block_min(a[i]);
    for (int k = 0; k < NT; ++k) {
      const XBlock& bx = reinterpret_cast<const XBlock*>(xb + k * x_stride)[i];
      const __m256i isum = dot32<Block>(q, load256(bx.qs));
      acc_tail[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * h2f(bx.d)), acc_tail[k]);
      if constexpr (Legacy<Block>::kMin) tail_min[k] += m * h2f(bx.s);
    }
  }
  for (int k = 0; k < NT; ++k)
    out[k * out_stride] = hsum16(_mm512_add_ps(acc0[k], acc1[k])) + hsum8(acc_tail[k]) + hsum4(acc_min[k]) + tail_min[k];
}

// ---- K types against Q8_K -----------------------------------------------
//
// A super-block is decoded to four vectors of 64 unsigned values, 16 scales
// (one per 16 values) and 16 offset multipliers that go with the Q8_K
// per-16 sums: y . q = d * sum(sc * (q . x)) - dmin * sum(mn * bsum).

struct KBlock {
  __m512i q[4];
  __m512i sc32;  // 16 scales as int32
  __m256i mn16;  // 16 offset multipliers as int16
  float d, dmin;
};

// Lane L of a vpdpbusd result over 64 values covers values 4L..4L+3, so it
// takes scale first + L / 4 of the per-16 scales.
__m512i scale_pick(int first) {
  alignas(64) int32_t idx[16];
  for (int l = 0; l < 16; ++l) idx[l] = first + l / 4;
  return _mm512_load_si512(idx);
}

// [v, v] with the low half shifted right by a bits and the high half by b.
__m512i twice_shifted(__m256i v, int a, int b) {
  const __m512i both = pair256(v, v);
  return _mm512_srlv_epi64(both, _mm512_setr_epi64(a, a, a, a, b, b, b, b));
}

void decode_q2_k(const BlockQ2_K& b, KBlock& k) {
  const __m512i low2 = _mm512_set1_epi8(3);
  for (int h = 0; h < 2; ++h) {
    const __m256i raw = load256(b.qs + 32 * h);
    k.q[2 * h] = _mm512_and_si512(twice_shifted(raw, 0, 2), low2);
    k.q[2 * h + 1] = _mm512_and_si512(twice_shifted(raw, 4, 6), low2);
  }
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
  const __m128i low4 = _mm_set1_epi8(15);
  k.sc32 = _mm512_cvtepu8_epi32(_mm_and_si128(packed, low4));
  k.mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
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

// Values q3 = low2 | high << 2 (0..7) for q3 - 4: the -4 comes back as an
// offset with multiplier 4 * sc and dmin = d.
void decode_q3_k(const BlockQ3_K& b, KBlock& k) {
  const __m512i low2 = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1);
  const __m256i hm = load256(b.hmask);
  for (int p = 0; p < 4; ++p) {
    const __m256i raw = load256(b.qs + 32 * (p / 2));
    const int s = 4 * (p % 2);
    const __m512i lo = _mm512_and_si512(twice_shifted(raw, s, s + 2), low2);
    const __m512i hi = _mm512_and_si512(twice_shifted(hm, 2 * p, 2 * p + 1), one);
    k.q[p] = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 2));
  }
  const __m128i sc = q3_k_scales(b.scales);
  k.sc32 = _mm512_cvtepi8_epi32(sc);
  k.mn16 = _mm256_slli_epi16(_mm256_cvtepi8_epi16(sc), 2);
  k.d = k.dmin = h2f(b.d);
}

// Q4_K / Q5_K scales: 8 six-bit scales and mins in 12 bytes.
void k4_scales(const uint8_t* packed, uint8_t* sc, uint8_t* mn) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t s[2] = {u[0] & 0x3f3f3f3fu, (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u)};
  const uint32_t m[2] = {u[1] & 0x3f3f3f3fu, ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u)};
  std::memcpy(sc, s, 8);
  std::memcpy(mn, m, 8);
}

void decode_q5_k(const BlockQ5_K& b, KBlock& k) {
  const __m512i low4 = _mm512_set1_epi8(15), one = _mm512_set1_epi8(1);
  const __m256i qh = load256(b.qh);
  for (int c = 0; c < 4; ++c) {
    const __m512i nib = _mm512_and_si512(twice_shifted(load256(b.qs + 32 * c), 0, 4), low4);
    const __m512i top = _mm512_and_si512(twice_shifted(qh, 2 * c, 2 * c + 1), one);
    k.q[c] = _mm512_or_si512(nib, _mm512_slli_epi16(top, 4));
  }
  alignas(16) uint8_t sc[16], mn[16];
  k4_scales(b.scales, sc, mn);
  // One scale per 32 values: each used for two consecutive 16-value groups.
  const __m128i s8 = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc)),
                                       _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc)));
  const __m128i m8 = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)),
                                       _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
  k.sc32 = _mm512_cvtepu8_epi32(s8);
  k.mn16 = _mm256_cvtepu8_epi16(m8);
  k.d = h2f(b.d);
  k.dmin = h2f(b.dmin);
}

void decode(const BlockQ2_K& b, KBlock& k) { decode_q2_k(b, k); }
void decode(const BlockQ3_K& b, KBlock& k) { decode_q3_k(b, k); }
void decode(const BlockQ5_K& b, KBlock& k) { decode_q5_k(b, k); }

// Q3_K's offset is integer (4 * sc with the same d), so it is subtracted
// before the conversion to float; Q2_K and Q5_K have their own dmin.
template <int NT, typename Block>
void dot_k(int64_t n, float* out, int64_t out_stride, const void* w, const void* x, int64_t x_stride) {
  constexpr bool kIntOffset = std::is_same_v<Block, BlockQ3_K>;
  const Block* a = static_cast<const Block*>(w);
  const char* xb = static_cast<const char*>(x);
  __m512i pick[4];
  for (int p = 0; p < 4; ++p) pick[p] = scale_pick(4 * p);
  __m512 acc[NT];
  __m256 accm[NT];
  for (int k = 0; k < NT; ++k) {
    acc[k] = _mm512_setzero_ps();
    accm[k] = _mm256_setzero_ps();
  }
  for (int64_t i = 0; i < n / kQKK; ++i) {
    KBlock kb;
    decode(a[i], kb);
    __m512i s[4];
    for (int p = 0; p < 4; ++p) s[p] = _mm512_permutexvar_epi32(pick[p], kb.sc32);
    for (int k = 0; k < NT; ++k) {
      const BlockQ8_K& bx = reinterpret_cast<const BlockQ8_K*>(xb + k * x_stride)[i];
      __m512i isum = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) {
        const __m512i y = _mm512_loadu_si512(bx.qs + 64 * p);
        isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), kb.q[p], y), s[p]));
      }
      const __m256i msum = _mm256_madd_epi16(load256(bx.bsums), kb.mn16);
      if constexpr (kIntOffset) {
        isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(msum));
      } else {
        accm[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(bx.d * kb.dmin), accm[k]);
      }
      acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(bx.d * kb.d), acc[k]);
    }
  }
  for (int k = 0; k < NT; ++k) out[k * out_stride] = hsum16(acc[k]) - hsum8(accm[k]);
}

// ---- entry points ---------------------------------------------------------

template <void (*F1)(int64_t, float*, int64_t, const void*, const void*, int64_t),
          void (*F2)(int64_t, float*, int64_t, const void*, const void*, int64_t),
          void (*F3)(int64_t, float*, int64_t, const void*, const void*, int64_t),
          void (*F4)(int64_t, float*, int64_t, const void*, const void*, int64_t)>
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

// roundf: halves away from zero. v - trunc(v) is exact, so comparing it with
// 0.5 decides exactly as the libm function does.
__m512 round_half_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
  const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
  return _mm512_mask_add_ps(t, up, t, one);
}

// Bit-identical to the scalar quantizer.
void from_float_q8_1(const float* src, void* dst, int64_t n) {
  BlockQ8_1* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m512 x0 = _mm512_loadu_ps(src + i * kQK), x1 = _mm512_loadu_ps(src + i * kQK + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(x0, vid)));
    const __m512i q1 = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(x1, vid)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs + 16), _mm512_cvtepi32_epi8(q1));
    const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    b[i].s = _cvtss_sh(static_cast<float>(sum) * d, _MM_FROUND_TO_NEAREST_INT);
  }
}

}  // namespace

void install_avx512_ext_kernels(TypeTraits* t) {
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
