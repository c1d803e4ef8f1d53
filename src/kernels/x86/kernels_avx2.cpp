// AVX2 + FMA + F16C kernels. Compiled with those flags only, so everything
// here has internal linkage and only intrinsics headers are included: no
// inline or template code from a shared header may be instantiated with
// these flags (the linker could keep this copy for a CPU without AVX2).
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

// ---- float types ----------------------------------------------------------

__m256 load8_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

__m256 load8_bf16(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

float bf16f(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) s += a[i] * b[i];
  *out = s;
}

void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(load8_f16(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(load8_f16(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8_f16(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum8(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += h2f(a[i]) * b[i];
  *out = s;
}

void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(load8_bf16(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(load8_bf16(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8_bf16(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum8(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += bf16f(a[i]) * b[i];
  *out = s;
}

void to_float_f16(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_f16(h + i));
  for (; i < n; ++i) dst[i] = h2f(h[i]);
}

void to_float_bf16(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_bf16(h + i));
  for (; i < n; ++i) dst[i] = bf16f(h[i]);
}

// ---- Q8_0 / Q4_0 against Q8_0 activations -----------------------------------

// Exact int8 dot of one block (32 pairs) as 8 int32 lanes: both sides widened
// to int16 and multiplied pairwise, so no operand value needs special care
// (-128 included).
__m256i dot32_i8(__m256i w, __m256i x) {
  const __m256i lo = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(w)),
                                       _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)));
  const __m256i hi = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1)),
                                       _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1)));
  return _mm256_add_epi32(lo, hi);
}

__m256i unpack_q4_0(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(15));
  return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
}

int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// One row in the reference order (exact block sums, then block by block
// s += float(isum) * (d_w * d_x)), equal bit for bit to the scalar kernel
// and the panel kernels. The scalar SSE builtins keep GCC from contracting
// the multiply and add into an FMA. Matrix products use the panel kernels.
template <bool kQ4>
void dot_q_0(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ8_0* bx = static_cast<const BlockQ8_0*>(x);
  __m128 s = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bx[i].qs));
    __m256i qw;
    float dw;
    if constexpr (kQ4) {
      const BlockQ4_0& blk = static_cast<const BlockQ4_0*>(w)[i];
      qw = unpack_q4_0(blk.qs);
      dw = h2f(blk.d);
    } else {
      const BlockQ8_0& blk = static_cast<const BlockQ8_0*>(w)[i];
      qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs));
      dw = h2f(blk.d);
    }
    const int32_t isum = hsum_epi32(dot32_i8(qw, qx));
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
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    for (int j = 0; j < kQK; j += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[i].qs + j));
      _mm256_storeu_ps(dst + i * kQK + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    }
  }
}

void to_float_q4_0(const void* src, float* dst, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256 d = _mm256_set1_ps(h2f(b[i].d));
    alignas(32) int8_t q[kQK];
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), unpack_q4_0(b[i].qs));
    for (int j = 0; j < kQK; j += 8) {
      const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j));
      _mm256_storeu_ps(dst + i * kQK + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), d));
    }
  }
}

// ---- activation quantizers (bit-identical to the scalar ones) --------------

// roundf: half-way cases away from zero. v - trunc(v) is exact, so the
// comparison with 0.5 decides exactly as the libm function does.
__m256 round_half_away(__m256 v) {
  const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
  const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(_mm256_set1_ps(1.0f), sign)));
}

float max8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

__m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// 32 int32 in four vectors to 32 int8 in order (values already in range).
__m256i pack32_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  const __m256i p = _mm256_packs_epi16(ab, cd);
  // The packs work per 128-bit lane; this restores element order.
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void from_float_q8_0(const float* src, void* dst, int64_t n) {
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    __m256 x[4];
    for (int j = 0; j < 4; ++j) x[j] = _mm256_loadu_ps(src + i * kQK + 8 * j);
    const float amax = max8(_mm256_max_ps(_mm256_max_ps(abs8(x[0]), abs8(x[1])), _mm256_max_ps(abs8(x[2]), abs8(x[3]))));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(x[j], vid)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), pack32_i8(q[0], q[1], q[2], q[3]));
  }
}

void from_float_q8_k(const float* src, void* dst, int64_t n) {
  BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* x = src + i * kQKK;
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < kQKK; j += 8) m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(x + j)));
    const float amax = max8(m);
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    b[i].d = amax != 0 ? 1.0f / id : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    const __m256i hi = _mm256_set1_epi32(127), lo = _mm256_set1_epi32(-127);
    for (int j = 0; j < kQKK; j += 32) {
      __m256i q[4];
      for (int k = 0; k < 4; ++k) {
        const __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), vid),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q[k] = _mm256_max_epi32(_mm256_min_epi32(_mm256_cvtps_epi32(v), hi), lo);
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs + j), pack32_i8(q[0], q[1], q[2], q[3]));
      for (int k = 0; k < 2; ++k) {
        const __m256i s = _mm256_add_epi32(q[2 * k], q[2 * k + 1]);
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
        b[i].bsums[j / 16 + k] = static_cast<int16_t>(_mm_cvtsi128_si32(t));
      }
    }
  }
}

void from_float_f16(const float* src, void* dst, int64_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) h[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

// ---- K quants against Q8_K activations --------------------------------------

// The 12-byte field holds 8 six-bit scales and mins; 32-bit masks unpack four
// at a time (layout in DESIGN.md).
void unpack_scales_q4_k(const uint8_t* packed, uint8_t* sc, uint8_t* mn) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t s[2] = {u[0] & 0x3f3f3f3fu, (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u)};
  const uint32_t m[2] = {u[1] & 0x3f3f3f3fu, ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u)};
  std::memcpy(sc, s, 8);
  std::memcpy(mn, m, 8);
}

void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ4_K* a = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  const __m256i low4 = _mm256_set1_epi8(15);
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    alignas(16) uint8_t sc[16], mn[16];
    unpack_scales_q4_k(a[i].scales, sc, mn);
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 32 * c));
      const __m256i lo = _mm256_and_si256(raw, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 64 * c));
      const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 64 * c + 32));
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc[2 * c]));
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc[2 * c + 1]));
      isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
    }
    // Each min applies to two 16-value bsums.
    const __m128i m8 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
    const __m256i m16 = _mm256_set_m128i(_mm_unpackhi_epi16(m8, m8), _mm_unpacklo_epi16(m8, m8));
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].bsums));
    const __m256i msum = _mm256_madd_epi16(bs, m16);
    const float dd = b[i].d * h2f(a[i].d);
    const float dm = b[i].d * h2f(a[i].dmin);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dd), acc);
    accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(dm), accm);
  }
  *out = hsum8(acc) - hsum8(accm);
}

void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ6_K* a = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  const __m256i low4 = _mm256_set1_epi8(15), low2 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = a[i].ql + 64 * h;
      const int8_t* sc = a[i].scales + 8 * h;
      const int8_t* y = b[i].qs + 128 * h;
      const __m256i la = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i lb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qh + 32 * h));
      // Values stay unsigned (0..63) for maddubs; the -32 offset is applied
      // once per super-block through the bsums.
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(la, low4), _mm256_slli_epi16(_mm256_and_si256(hb, low2), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(lb, low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), low2), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), low2), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), low2), 4));
      for (int g = 0; g < 4; ++g) {
        const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y + 32 * g));
        const __m256i s16 = _mm256_set_m128i(_mm_set1_epi16(sc[2 * g + 1]), _mm_set1_epi16(sc[2 * g]));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], yv), s16));
      }
    }
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales)));
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].bsums));
    const __m256i bias = _mm256_madd_epi16(bs, s16);
    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(bias, 5));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(b[i].d * h2f(a[i].d)), acc);
  }
  *out = hsum8(acc);
}

}  // namespace

void install_avx2_kernels(TypeTraits* t) {
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
  install_avx2_gemm(t);
  t[static_cast<int>(DType::Q4_K)].vec_dot = vec_dot_q4_k;
  t[static_cast<int>(DType::Q6_K)].vec_dot = vec_dot_q6_k;
}

}  // namespace lineage
