// AVX2 panel kernels (layout in kernels/gemm_panel.h), for CPUs without
// AVX-512 VNNI. A panel is done as two halves of 8 rows, one ymm lane per
// row. Without vpdpbusd, vpmaddubsw multiplies unsigned weight bytes by a
// broadcast of four signed activation bytes into i16 pairs, which vpmaddwd
// widens to one int32 per row. The pair sums must not saturate: Q4_0 values
// (0..15) are safe as they are; Q8_0's stored bytes (0..255) are split into
// nibbles, the high one weighted by 16 in the widening step. Integer sums
// are exact and the float part is the reference's, so results equal the
// scalar panel kernel bit for bit.
// Internal linkage only (see the note in kernels_avx2.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm_panel.h"
#include "kernels/quant_blocks.h"

namespace lineage {
namespace {

constexpr int kTile = 4;  // tokens per pass: 16 ymm registers in all

__m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Stops GCC from contracting a multiply into the following add (an FMA
// rounds once where the reference rounds twice).
__m256 opaque(__m256 v) {
  __asm__("" : "+x"(v));
  return v;
}

template <int NT, bool kQ4>
void tile_half(const uint8_t* panel, int64_t nb, int half, const QuantActs& x, float* y, int64_t y_stride,
               int n_rows) {
  constexpr int64_t qb = kQ4 ? 256 : 512;
  const uint16_t* dp = reinterpret_cast<const uint16_t*>(panel + nb * qb);
  const __m256i low4 = _mm256_set1_epi8(15), one16 = _mm256_set1_epi16(1), sixteen16 = _mm256_set1_epi16(16);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* g = panel + b * qb + half * 32;
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_set1_epi32(x.corr[t * x.blk_stride + b]);
    if constexpr (kQ4) {
      for (int c = 0; c < 4; ++c) {
        const __m256i p = _mm256_load_si256(reinterpret_cast<const __m256i*>(g + 64 * c));
        const __m256i lo = _mm256_and_si256(p, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), low4);
        for (int t = 0; t < NT; ++t) {
          const int8_t* xq = x.qs + t * x.qs_stride + b * kQK;
          const __m256i pl = _mm256_maddubs_epi16(lo, bcast4(xq + 4 * c));
          const __m256i ph = _mm256_maddubs_epi16(hi, bcast4(xq + 16 + 4 * c));
          isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_add_epi16(pl, ph), one16));
        }
      }
    } else {
      for (int c = 0; c < 8; ++c) {
        const __m256i p = _mm256_load_si256(reinterpret_cast<const __m256i*>(g + 64 * c));
        const __m256i lo = _mm256_and_si256(p, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), low4);
        for (int t = 0; t < NT; ++t) {
          const __m256i xv = bcast4(x.qs + t * x.qs_stride + b * kQK + 4 * c);
          const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xv), one16);
          const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xv), sixteen16);
          isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(pl, ph));
        }
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dp + b * kPanelRows + half * 8)));
    for (int t = 0; t < NT; ++t) {
      const __m256 scale = opaque(_mm256_mul_ps(dw, _mm256_set1_ps(x.d[t * x.blk_stride + b])));
      acc[t] = _mm256_add_ps(acc[t], opaque(_mm256_mul_ps(_mm256_cvtepi32_ps(isum[t]), scale)));
    }
  }
  const int n = n_rows - half * 8;
  for (int t = 0; t < NT; ++t) {
    if (n >= 8) {
      _mm256_storeu_ps(y + t * y_stride + half * 8, acc[t]);
    } else {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, acc[t]);
      std::memcpy(y + t * y_stride + half * 8, tmp, sizeof(float) * n);
    }
  }
}

template <bool kQ4>
void gemm_panel(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                int n_rows) {
  for (int half = 0; half < 2 && half * 8 < n_rows; ++half) {
    for (int t0 = 0; t0 < nt; t0 += kTile) {
      const QuantActs xt{x.qs + t0 * x.qs_stride, x.d + t0 * x.blk_stride, x.corr + t0 * x.blk_stride, x.qs_stride,
                         x.blk_stride};
      float* yt = y + t0 * y_stride;
      switch (std::min(kTile, nt - t0)) {
        case 1: tile_half<1, kQ4>(panel, nb, half, xt, yt, y_stride, n_rows); break;
        case 2: tile_half<2, kQ4>(panel, nb, half, xt, yt, y_stride, n_rows); break;
        case 3: tile_half<3, kQ4>(panel, nb, half, xt, yt, y_stride, n_rows); break;
        default: tile_half<4, kQ4>(panel, nb, half, xt, yt, y_stride, n_rows); break;
      }
    }
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

// ---- F16 weights, float activations -----------------------------------------

// Half h (rows 8h..8h+7) of NP panels x NT tokens: sequential FMA chains over
// the columns, as on every ISA.
template <int NP, int NT>
void tile_f16(const uint8_t* panel, int64_t stride, int half, int64_t cols, const float* x, int64_t x_stride,
              float* y, int64_t y_stride, int n_rows) {
  __m256 acc[NP][NT];
  for (int p = 0; p < NP; ++p)
    for (int t = 0; t < NT; ++t) acc[p][t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < cols; ++i)
    for (int p = 0; p < NP; ++p) {
      const uint16_t* w = reinterpret_cast<const uint16_t*>(panel + p * stride) + i * kPanelRows + half * 8;
      const __m256 wv = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(w)));
      for (int t = 0; t < NT; ++t) acc[p][t] = _mm256_fmadd_ps(_mm256_set1_ps(x[t * x_stride + i]), wv, acc[p][t]);
    }
  for (int p = 0; p < NP; ++p) {
    const int left = n_rows - p * kPanelRows - half * 8;
    if (left <= 0) continue;
    for (int t = 0; t < NT; ++t) {
      float* dst = y + t * y_stride + p * kPanelRows + half * 8;
      if (left >= 8) {
        _mm256_storeu_ps(dst, acc[p][t]);
      } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, acc[p][t]);
        std::memcpy(dst, tmp, sizeof(float) * left);
      }
    }
  }
}

void gemm_panel_f16(const uint8_t* panel, int64_t stride, int n_panels, int64_t cols, const float* x,
                    int64_t x_stride, int nt, float* y, int64_t y_stride, int n_rows) {
  for (int half = 0; half < 2; ++half) {
    if (nt == 1) {
      switch (n_panels) {
        case 1: tile_f16<1, 1>(panel, stride, half, cols, x, x_stride, y, y_stride, n_rows); break;
        case 2: tile_f16<2, 1>(panel, stride, half, cols, x, x_stride, y, y_stride, n_rows); break;
        case 3: tile_f16<3, 1>(panel, stride, half, cols, x, x_stride, y, y_stride, n_rows); break;
        default: tile_f16<4, 1>(panel, stride, half, cols, x, x_stride, y, y_stride, n_rows); break;
      }
      continue;
    }
    for (int p = 0; p < n_panels; ++p) {
      const uint8_t* pp = panel + p * stride;
      const int rows = n_rows - p * kPanelRows;
      for (int t0 = 0; t0 < nt; t0 += 8) {
        const float* xt = x + t0 * x_stride;
        float* yt = y + t0 * y_stride + p * kPanelRows;
        switch (std::min(8, nt - t0)) {
          case 1: tile_f16<1, 1>(pp, stride, half, cols, xt, x_stride, yt, y_stride, rows); break;
          case 2: tile_f16<1, 2>(pp, stride, half, cols, xt, x_stride, yt, y_stride, rows); break;
          case 3: tile_f16<1, 3>(pp, stride, half, cols, xt, x_stride, yt, y_stride, rows); break;
          case 4: tile_f16<1, 4>(pp, stride, half, cols, xt, x_stride, yt, y_stride, rows); break;
          case 5: tile_f16<1, 5>(pp, stride, half, cols, xt, x_stride, yt, y_stride, rows); break;
          case 6: tile_f16<1, 6>(pp, stride, half, cols, xt, x_stride, yt, y_stride, rows); break;
          case 7: tile_f16<1, 7>(pp, stride, half, cols, xt, x_stride, yt, y_stride, rows); break;
          default: tile_f16<1, 8>(pp, stride, half, cols, xt, x_stride, yt, y_stride, rows); break;
        }
      }
    }
  }
}

}  // namespace

void install_avx2_gemm(TypeTraits* t) {
  t[static_cast<int>(DType::F16)].gemm_panel_f32 = gemm_panel_f16;
  t[static_cast<int>(DType::Q4_0)].gemm_panel = gemm_panel_q4_0;
  t[static_cast<int>(DType::Q8_0)].gemm_panel = gemm_panel_q8_0;
}

}  // namespace lineage
