// AVX-512 VNNI panel kernels (layout in kernels/gemm_panel.h). One zmm lane
// per panel row: vpdpbusd multiplies the unsigned stored weights of 16 rows
// by a broadcast of four signed activation bytes, so a block's exact integer
// sum builds up in each lane over 8 instructions, starting from the
// activation's offset correction. The float part is the reference's
// s += float(isum) * (d_w * d_x), with separate multiply and add (no FMA),
// so results equal the scalar kernel bit for bit.
// Internal linkage only (see the note in kernels_avx512.cpp).
// GCC 12 flags its own _mm512_undefined_* helpers inside the conversion
// intrinsics as (maybe-)uninitialized; the warning is spurious.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/gemm_panel.h"
#include "kernels/quant_blocks.h"

namespace lineage {
namespace {

// Tokens per register tile: 8 weight vectors + kTile accumulators + temps
// stay within the 32 zmm registers.
constexpr int kTile = 8;

int32_t load4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <bool kQ4>
void load_weights(const uint8_t* g, __m512i* w) {
  if constexpr (kQ4) {
    const __m512i low4 = _mm512_set1_epi8(15);
    for (int c = 0; c < 4; ++c) {
      const __m512i p = _mm512_load_si512(g + 64 * c);
      w[c] = _mm512_and_si512(p, low4);
      w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(p, 4), low4);
    }
  } else {
    for (int c = 0; c < 8; ++c) w[c] = _mm512_load_si512(g + 64 * c);
  }
}

// Rows of one panel against NT tokens. With a single token the 8-step
// integer chain is split in two so consecutive blocks overlap better; the
// sums are exact, so the split changes nothing in the result.
template <int NT, bool kQ4>
void tile(const uint8_t* panel, int64_t nb, const QuantActs& x, float* y, int64_t y_stride, __mmask16 rows) {
  constexpr int64_t qb = kQ4 ? 256 : 512;
  const uint16_t* dp = reinterpret_cast<const uint16_t*>(panel + nb * qb);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i w[8];
    load_weights<kQ4>(panel + b * qb, w);
    if (NT == 1) _mm_prefetch(reinterpret_cast<const char*>(panel + (b + 8) * qb), _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp + b * kPanelRows)));
    for (int t = 0; t < NT; ++t) {
      const int8_t* xq = x.qs + t * x.qs_stride + b * kQK;
      const int64_t bi = t * x.blk_stride + b;
      __m512i s = _mm512_set1_epi32(x.corr[bi]);
      if constexpr (NT == 1) {
        __m512i s1 = _mm512_setzero_si512();
        for (int c = 0; c < 8; c += 2) {
          s = _mm512_dpbusd_epi32(s, w[c], _mm512_set1_epi32(load4(xq + 4 * c)));
          s1 = _mm512_dpbusd_epi32(s1, w[c + 1], _mm512_set1_epi32(load4(xq + 4 * c + 4)));
        }
        s = _mm512_add_epi32(s, s1);
      } else {
        for (int c = 0; c < 8; ++c) s = _mm512_dpbusd_epi32(s, w[c], _mm512_set1_epi32(load4(xq + 4 * c)));
      }
      // The _round_ forms (round to nearest, as the plain ones) keep GCC from
      // contracting the multiply and add into an FMA, which would round once
      // instead of twice and break equality with the scalar reference.
      constexpr int kRn = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
      const __m512 scale = _mm512_mul_round_ps(dw, _mm512_set1_ps(x.d[bi]), kRn);
      acc[t] = _mm512_add_round_ps(acc[t], _mm512_mul_round_ps(_mm512_cvtepi32_ps(s), scale, kRn), kRn);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * y_stride, rows, acc[t]);
}

template <bool kQ4>
void gemm_panel(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                int n_rows) {
  const __mmask16 rows = static_cast<__mmask16>((1u << n_rows) - 1);
  int t0 = 0;
  for (; t0 + kTile <= nt; t0 += kTile) {
    const QuantActs xt{x.qs + t0 * x.qs_stride, x.d + t0 * x.blk_stride, x.corr + t0 * x.blk_stride, x.qs_stride,
                       x.blk_stride};
    tile<kTile, kQ4>(panel, nb, xt, y + t0 * y_stride, y_stride, rows);
  }
  const int left = nt - t0;
  if (left == 0) return;
  const QuantActs xt{x.qs + t0 * x.qs_stride, x.d + t0 * x.blk_stride, x.corr + t0 * x.blk_stride, x.qs_stride,
                     x.blk_stride};
  float* yt = y + t0 * y_stride;
  switch (left) {
    case 1: tile<1, kQ4>(panel, nb, xt, yt, y_stride, rows); break;
    case 2: tile<2, kQ4>(panel, nb, xt, yt, y_stride, rows); break;
    case 3: tile<3, kQ4>(panel, nb, xt, yt, y_stride, rows); break;
    case 4: tile<4, kQ4>(panel, nb, xt, yt, y_stride, rows); break;
    case 5: tile<5, kQ4>(panel, nb, xt, yt, y_stride, rows); break;
    case 6: tile<6, kQ4>(panel, nb, xt, yt, y_stride, rows); break;
    default: tile<7, kQ4>(panel, nb, xt, yt, y_stride, rows); break;
  }
}

void gemm_panel_q4_0(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                     int n_rows) {
  gemm_panel<true>(panel, nb, x, nt, y, y_stride, n_rows);
}

void gemm_panel_q8_0(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                     int n_rows) {
  gemm_panel<false>(panel, nb, x, nt, y, y_stride, n_rows);
}

}  // namespace

void install_avx512_gemm(TypeTraits* t) {
  t[static_cast<int>(DType::Q4_0)].gemm_panel = gemm_panel_q4_0;
  t[static_cast<int>(DType::Q8_0)].gemm_panel = gemm_panel_q8_0;
}

}  // namespace lineage
