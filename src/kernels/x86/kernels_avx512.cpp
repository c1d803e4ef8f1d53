// AVX-512 (F/BW/VL/DQ) + VNNI kernels. Same rules as the AVX2 file: internal
// linkage for everything, intrinsics headers only. Integer dot products use
// vpdpbusd (unsigned x signed bytes into int32), which needs no i16 step and
// cannot saturate.
// GCC 12 flags its own _mm512_undefined_* helpers inside the cast and
// insert intrinsics as (maybe-)uninitialized; the warning is spurious.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/gemm_panel.h"
#include "kernels/isa_kernels.h"
#include "kernels/quant_blocks.h"

namespace lineage {
namespace {

float h2f(uint16_t h) { return _cvtsh_ss(h); }

float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float hsum16(__m512 v) { return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1))); }

__mmask16 tail_mask(int64_t left) { return static_cast<__mmask16>((1u << left) - 1); }

// ---- float types ------------------------------------------------------------

__m512 load16_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
__m512 load16_f16_masked(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }

__m512 bf16_widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
__m512 load16_bf16(const uint16_t* p) { return bf16_widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
__m512 load16_bf16_masked(const uint16_t* p, __mmask16 m) { return bf16_widen(_mm256_maskz_loadu_epi16(m, p)); }

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  *out = hsum16(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

template <bool kBf16>
void dot_half(int64_t n, float* out, const void* w, const void* x) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(kBf16 ? load16_bf16(a + i) : load16_f16(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(kBf16 ? load16_bf16(a + i + 16) : load16_f16(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 wa = kBf16 ? load16_bf16_masked(a + i, m) : load16_f16_masked(a + i, m);
    s0 = _mm512_fmadd_ps(wa, _mm512_maskz_loadu_ps(m, b + i), s0);
  }
  *out = hsum16(_mm512_add_ps(s0, s1));
}

void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) { dot_half<false>(n, out, w, x); }
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x) { dot_half<true>(n, out, w, x); }

template <bool kBf16>
void to_float_half(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(dst + i, m, kBf16 ? load16_bf16_masked(h + i, m) : load16_f16_masked(h + i, m));
  }
}

void to_float_f16(const void* src, float* dst, int64_t n) { to_float_half<false>(src, dst, n); }
void to_float_bf16(const void* src, float* dst, int64_t n) { to_float_half<true>(src, dst, n); }

// ---- Q8_0 / Q4_0 against Q8_0 activations -----------------------------------

// One Q4_0 block as 32 unsigned nibble values (0..15) in value order.
__m256i unpack_q4_0_one(const uint8_t* q) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(15));
}

// Signed x signed bytes with vpdpbusd: for Q8_0 weights the sign of x moves
// onto w and |x| (<= 127) becomes the unsigned operand. Q4_0 weights are
// already unsigned (nibble + 8), so the offset is removed by subtracting
// 8 * sum(x), itself one more vpdpbusd.
__m256i dot32_q8(__m256i w, __m256i x) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(x), _mm256_sign_epi8(w, x));
}
__m256i dot32_q4(__m256i w, __m256i x) {
  const __m256i z = _mm256_setzero_si256();
  return _mm256_sub_epi32(_mm256_dpbusd_epi32(z, w, x), _mm256_dpbusd_epi32(z, _mm256_set1_epi8(8), x));
}

int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// One row in the reference order: each block's exact integer sum, then
// s += float(isum) * (d_w * d_x) block after block, so the result equals
// the scalar kernel and the panel kernels (kernels/x86/gemm_avx512.cpp)
// bit for bit. Matrix products go through the panel kernels; this serves
// single dot products.
template <bool kQ4>
void dot_q_0(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ8_0* bx = static_cast<const BlockQ8_0*>(x);
  __m128 s = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bx[i].qs));
    int32_t isum;
    float dw;
    if constexpr (kQ4) {
      const BlockQ4_0& b = static_cast<const BlockQ4_0*>(w)[i];
      isum = hsum_epi32(dot32_q4(unpack_q4_0_one(b.qs), qx));
      dw = h2f(b.d);
    } else {
      const BlockQ8_0& b = static_cast<const BlockQ8_0*>(w)[i];
      isum = hsum_epi32(dot32_q8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)), qx));
      dw = h2f(b.d);
    }
    // Scalar SSE builtins: GCC would contract plain float expressions into
    // an FMA here (this file is compiled with -mfma), rounding differently
    // from the reference.
    const __m128 scale = _mm_mul_ss(_mm_set_ss(dw), _mm_set_ss(h2f(bx[i].d)));
    s = _mm_add_ss(s, _mm_mul_ss(_mm_set_ss(static_cast<float>(isum)), scale));
  }
  *out = _mm_cvtss_f32(s);
}

void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* x) { dot_q_0<false>(n, out, w, x); }
void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* x) { dot_q_0<true>(n, out, w, x); }

void to_float_q8_0(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m512 d = _mm512_set1_ps(h2f(b[i].d));
    for (int j = 0; j < kQK; j += 16) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs + j));
      _mm512_storeu_ps(dst + i * kQK + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
    }
  }
}

void to_float_q4_0(const void* src, float* dst, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
  const __m512i eight = _mm512_set1_epi32(8);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m512 d = _mm512_set1_ps(h2f(b[i].d));
    const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs)));
    const __m512i lo = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(15)), eight);
    const __m512i hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
    _mm512_storeu_ps(dst + i * kQK, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d));
    _mm512_storeu_ps(dst + i * kQK + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d));
  }
}

// ---- activation quantizers (bit-identical to the scalar ones) --------------

// roundf: half-way cases away from zero. v - trunc(v) is exact, so the
// comparison with 0.5 decides exactly as the libm function does.
__m512 round_half_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
  const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
  return _mm512_mask_add_ps(t, up, t, one);
}

void from_float_q8_0(const float* src, void* dst, int64_t n) {
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m512 x0 = _mm512_loadu_ps(src + i * kQK), x1 = _mm512_loadu_ps(src + i * kQK + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(x0, vid)));
    const __m512i q1 = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(x1, vid)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs + 16), _mm512_cvtepi32_epi8(q1));
  }
}

void from_float_q8_k(const float* src, void* dst, int64_t n) {
  BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* x = src + i * kQKK;
    __m512 m = _mm512_setzero_ps();
    for (int j = 0; j < kQKK; j += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
    const float amax = _mm512_reduce_max_ps(m);
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    b[i].d = amax != 0 ? 1.0f / id : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i lim = _mm512_set1_epi32(127);
    for (int j = 0; j < kQKK; j += 16) {
      const __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + j), vid),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m512i q = _mm512_cvtps_epi32(v);
      q = _mm512_max_epi32(_mm512_min_epi32(q, lim), _mm512_sub_epi32(_mm512_setzero_si512(), lim));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs + j), _mm512_cvtepi32_epi8(q));
      b[i].bsums[j / 16] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
  }
}

void from_float_f16(const float* src, void* dst, int64_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m256i v = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_mask_storeu_epi16(h + i, m, v);
  }
}

// ---- K quants against Q8_K activations --------------------------------------

void unpack_scales_q4_k(const uint8_t* packed, uint8_t* sc, uint8_t* mn) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t s[2] = {u[0] & 0x3f3f3f3fu, (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u)};
  const uint32_t m[2] = {u[1] & 0x3f3f3f3fu, ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u)};
  std::memcpy(sc, s, 8);
  std::memcpy(mn, m, 8);
}

// Lane L of a vpdpbusd result over 64 values covers values 4L..4L+3; these
// pick each lane's sub-block scale out of a vector of all of them.
__m512i scale_index(int first, int values_per_scale) {
  alignas(64) int32_t idx[16];
  for (int l = 0; l < 16; ++l) idx[l] = first + (4 * l) / values_per_scale;
  return _mm512_load_si512(idx);
}

template <int NT>
void dot_q4_k(int64_t n, float* out, int64_t out_stride, const void* w, const void* x, int64_t x_stride) {
  const BlockQ4_K* a = static_cast<const BlockQ4_K*>(w);
  const char* xb = static_cast<const char*>(x);
  const __m256i low4 = _mm256_set1_epi8(15);
  __m512i pick[4];
  for (int c = 0; c < 4; ++c) pick[c] = scale_index(2 * c, 32);
  __m512 acc[NT];
  __m256 accm[NT];
  for (int k = 0; k < NT; ++k) {
    acc[k] = _mm512_setzero_ps();
    accm[k] = _mm256_setzero_ps();
  }
  for (int64_t i = 0; i < n / kQKK; ++i) {
    alignas(16) uint8_t sc[16], mn[16];
    unpack_scales_q4_k(a[i].scales, sc, mn);
    const __m512i sc32 = _mm512_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc)));
    const __m128i m8 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
    const __m256i m16 = _mm256_set_m128i(_mm_unpackhi_epi16(m8, m8), _mm_unpacklo_epi16(m8, m8));
    __m512i q[4], s[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 32 * c));
      const __m256i lo = _mm256_and_si256(raw, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      q[c] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      s[c] = _mm512_permutexvar_epi32(pick[c], sc32);
    }
    const float d = h2f(a[i].d), dmin = h2f(a[i].dmin);
    for (int k = 0; k < NT; ++k) {
      const BlockQ8_K& bx = reinterpret_cast<const BlockQ8_K*>(xb + k * x_stride)[i];
      __m512i isum = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {
        const __m512i y = _mm512_loadu_si512(bx.qs + 64 * c);
        isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q[c], y), s[c]));
      }
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bx.bsums));
      const float dd = bx.d * d, dm = bx.d * dmin;
      acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dd), acc[k]);
      accm[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, m16)), _mm256_set1_ps(dm), accm[k]);
    }
  }
  for (int k = 0; k < NT; ++k) out[k * out_stride] = hsum16(acc[k]) - hsum8(accm[k]);
}

template <int NT>
void dot_q6_k(int64_t n, float* out, int64_t out_stride, const void* w, const void* x, int64_t x_stride) {
  const BlockQ6_K* a = static_cast<const BlockQ6_K*>(w);
  const char* xb = static_cast<const char*>(x);
  const __m512i low4 = _mm512_set1_epi8(15), low2 = _mm512_set1_epi8(3);
  __m512i pick[4];
  for (int p = 0; p < 4; ++p) pick[p] = scale_index(4 * p, 16);
  __m512 acc[NT];
  for (int k = 0; k < NT; ++k) acc[k] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales));
    const __m512i sc32 = _mm512_cvtepi8_epi32(sc8);
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    // Values stay unsigned (0..63) for vpdpbusd; the -32 offset comes back
    // through the bsums. q[2h] holds values 0..63 of half h, q[2h+1] 64..127.
    __m512i q[4], s[4];
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(a[i].ql + 64 * h);
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qh + 32 * h));
      const __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
      q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_slli_epi16(_mm512_and_si512(qh2, low2), 4));
      q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                     _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh2, 4), low2), 4));
    }
    for (int p = 0; p < 4; ++p) s[p] = _mm512_permutexvar_epi32(pick[p], sc32);
    const float d = h2f(a[i].d);
    for (int k = 0; k < NT; ++k) {
      const BlockQ8_K& bx = reinterpret_cast<const BlockQ8_K*>(xb + k * x_stride)[i];
      __m512i isum = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) {
        const __m512i y = _mm512_loadu_si512(bx.qs + 64 * p);
        isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q[p], y), s[p]));
      }
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bx.bsums));
      const __m256i bias = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5);
      isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(bias));
      const float dd = bx.d * d;
      acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dd), acc[k]);
    }
  }
  for (int k = 0; k < NT; ++k) out[k * out_stride] = hsum16(acc[k]);
}

void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x) { dot_q4_k<1>(n, out, 0, w, x, 0); }
void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x) { dot_q6_k<1>(n, out, 0, w, x, 0); }

void vec_dot_n_q4_k(int64_t n, int nt, float* out, int64_t os, const void* w, const void* x, int64_t xs) {
  switch (nt) {
    case 1: dot_q4_k<1>(n, out, os, w, x, xs); break;
    case 2: dot_q4_k<2>(n, out, os, w, x, xs); break;
    case 3: dot_q4_k<3>(n, out, os, w, x, xs); break;
    default: dot_q4_k<4>(n, out, os, w, x, xs); break;
  }
}

void vec_dot_n_q6_k(int64_t n, int nt, float* out, int64_t os, const void* w, const void* x, int64_t xs) {
  switch (nt) {
    case 1: dot_q6_k<1>(n, out, os, w, x, xs); break;
    case 2: dot_q6_k<2>(n, out, os, w, x, xs); break;
    case 3: dot_q6_k<3>(n, out, os, w, x, xs); break;
    default: dot_q6_k<4>(n, out, os, w, x, xs); break;
  }
}

}  // namespace

void install_avx512_kernels(TypeTraits* t) {
  auto& f32 = t[static_cast<int>(DType::F32)];
  f32.vec_dot = vec_dot_f32;
  auto& f16 = t[static_cast<int>(DType::F16)];
  f16.vec_dot = vec_dot_f16;
  f16.to_float = to_float_f16;
  f16.from_float = from_float_f16;
  t[static_cast<int>(DType::Q8_K)].from_float = from_float_q8_k;
  auto& bf16 = t[static_cast<int>(DType::BF16)];
  bf16.vec_dot = vec_dot_bf16;
  bf16.to_float = to_float_bf16;
  auto& q8 = t[static_cast<int>(DType::Q8_0)];
  q8.vec_dot = vec_dot_q8_0;
  q8.vec_dot_n = nullptr;
  q8.to_float = to_float_q8_0;
  q8.from_float = from_float_q8_0;
  auto& q4 = t[static_cast<int>(DType::Q4_0)];
  q4.vec_dot = vec_dot_q4_0;
  q4.vec_dot_n = nullptr;
  q4.to_float = to_float_q4_0;
  auto& q4k = t[static_cast<int>(DType::Q4_K)];
  q4k.vec_dot = vec_dot_q4_k;
  q4k.vec_dot_n = vec_dot_n_q4_k;
  auto& q6k = t[static_cast<int>(DType::Q6_K)];
  q6k.vec_dot = vec_dot_q6_k;
  q6k.vec_dot_n = vec_dot_n_q6_k;
  install_avx512_gemm(t);
}

}  // namespace lineage
