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

// Rows of one panel against NT tokens. With up to four tokens (a decode
// step of a few sequences) each token's 8-step integer chain is split in
// two, else the chains' latency, not the VNNI throughput, sets the pace;
// the sums are exact, so the split changes nothing in the result. Those
// small tiles read weights from DRAM as one token does, so they prefetch
// the block eight ahead too.
template <int NT, bool kQ4>
void tile(const uint8_t* panel, int64_t nb, const QuantActs& x, float* y, int64_t y_stride, __mmask16 rows) {
  constexpr int64_t qb = kQ4 ? 256 : 512;
  const uint16_t* dp = reinterpret_cast<const uint16_t*>(panel + nb * qb);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i w[8];
    load_weights<kQ4>(panel + b * qb, w);
    if constexpr (NT == 1) {
      _mm_prefetch(reinterpret_cast<const char*>(panel + (b + 8) * qb), _MM_HINT_T0);
    } else if constexpr (NT <= 4) {
      for (int64_t l = 0; l < qb; l += 64) _mm_prefetch(reinterpret_cast<const char*>(panel + (b + 8) * qb + l), _MM_HINT_T0);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp + b * kPanelRows)));
    // Fully unrolled, so that acc[] lives in registers: left to itself GCC
    // keeps the eight accumulators in memory and every block pays a load
    // and a store per token.
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const int8_t* xq = x.qs + t * x.qs_stride + b * kQK;
      const int64_t bi = t * x.blk_stride + b;
      __m512i s = _mm512_set1_epi32(x.corr[bi]);
      if constexpr (NT <= 4) {
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

// One token against NP panels side by side. A lone panel is one sequential
// stream that the core cannot keep busy enough to reach the memory
// bandwidth (measured: 60% of a plain read on one core for Q4_0, 80% for
// Q8_0); NP streams with every line prefetched kDist bytes ahead keep more
// misses in flight, and the activation broadcasts are shared by the panels.
// Each output's arithmetic is exactly tile<1>'s.
template <int NP, bool kQ4>
void gemv_tile(const uint8_t* panel, int64_t stride, int64_t nb, const QuantActs& x, float* y, int n_rows) {
  constexpr int64_t qb = kQ4 ? 256 : 512;
  constexpr int64_t kDist = kQ4 ? 1024 : 2048;
  constexpr int kRn = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  __m512 acc[NP];
  for (int p = 0; p < NP; ++p) acc[p] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* xq = x.qs + b * kQK;
    __m512i xb[8];
    for (int c = 0; c < 8; ++c) xb[c] = _mm512_set1_epi32(load4(xq + 4 * c));
    const __m512 xd = _mm512_set1_ps(x.d[b]);
    const __m512i corr = _mm512_set1_epi32(x.corr[b]);
    for (int p = 0; p < NP; ++p) {
      const uint8_t* g = panel + p * stride + b * qb;
      for (int64_t l = 0; l < qb; l += 64) _mm_prefetch(reinterpret_cast<const char*>(g + kDist + l), _MM_HINT_T0);
      const uint16_t* dp = reinterpret_cast<const uint16_t*>(panel + p * stride + nb * qb) + b * kPanelRows;
      // Two blocks of scales fill one line.
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(dp + 16 * kPanelRows), _MM_HINT_T0);
      const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(dp)));
      __m512i s = corr, s1 = _mm512_setzero_si512();
      if constexpr (kQ4) {
        // High nibbles stay in place (16 times their value), so their sum
        // is an exact multiple of 16 that one shift brings back: two
        // instructions per 64 bytes instead of three to split the nibbles.
        const __m512i low4 = _mm512_set1_epi8(15);
        for (int c = 0; c < 4; ++c) {
          const __m512i v = _mm512_load_si512(g + 64 * c);
          s = _mm512_dpbusd_epi32(s, _mm512_and_si512(v, low4), xb[c]);
          s1 = _mm512_dpbusd_epi32(s1, _mm512_andnot_si512(low4, v), xb[c + 4]);
        }
        s = _mm512_add_epi32(s, _mm512_srai_epi32(s1, 4));
      } else {
        for (int c = 0; c < 8; c += 2) {
          s = _mm512_dpbusd_epi32(s, _mm512_load_si512(g + 64 * c), xb[c]);
          s1 = _mm512_dpbusd_epi32(s1, _mm512_load_si512(g + 64 * c + 64), xb[c + 1]);
        }
        s = _mm512_add_epi32(s, s1);
      }
      const __m512 scale = _mm512_mul_round_ps(dw, xd, kRn);
      acc[p] = _mm512_add_round_ps(acc[p], _mm512_mul_round_ps(_mm512_cvtepi32_ps(s), scale, kRn), kRn);
    }
  }
  for (int p = 0; p < NP; ++p) {
    const int left = n_rows - p * kPanelRows;
    if (left <= 0) break;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
    _mm512_mask_storeu_ps(y + p * kPanelRows, m, acc[p]);
  }
}

template <bool kQ4>
void gemv_panels(const uint8_t* panel, int64_t stride, int n_panels, int64_t nb, const QuantActs& x, float* y,
                 int n_rows) {
  switch (n_panels) {
    case 1: gemv_tile<1, kQ4>(panel, stride, nb, x, y, n_rows); break;
    case 2: gemv_tile<2, kQ4>(panel, stride, nb, x, y, n_rows); break;
    case 3: gemv_tile<3, kQ4>(panel, stride, nb, x, y, n_rows); break;
    default: gemv_tile<4, kQ4>(panel, stride, nb, x, y, n_rows); break;
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

// NP panels x NT tokens of accumulators, each a sequential FMA chain over the
// columns. One token alone interleaves several panels so that enough
// independent chains hide the FMA latency.
template <int NP, int NT>
void tile_f16(const uint8_t* panel, int64_t stride, int64_t cols, const float* x, int64_t x_stride, float* y,
              int64_t y_stride, int n_rows) {
  __m512 acc[NP][NT];
  for (int p = 0; p < NP; ++p)
    for (int t = 0; t < NT; ++t) acc[p][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < cols; ++i) {
    for (int p = 0; p < NP; ++p) {
      const uint16_t* w = reinterpret_cast<const uint16_t*>(panel + p * stride) + i * kPanelRows;
      if (NT == 1 && (i & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(w + 32 * kPanelRows), _MM_HINT_T0);
      const __m512 wv = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(w)));
      for (int t = 0; t < NT; ++t) acc[p][t] = _mm512_fmadd_ps(_mm512_set1_ps(x[t * x_stride + i]), wv, acc[p][t]);
    }
  }
  for (int p = 0; p < NP; ++p) {
    const int left = n_rows - p * kPanelRows;
    if (left <= 0) break;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * y_stride + p * kPanelRows, m, acc[p][t]);
  }
}

// Every token of the batch through NP panels, KT tokens at a time (KT
// accumulators per panel + KT broadcasts + NP weight vectors within the 32
// registers, so nothing spills).
template <int NP, int KT>
void f16_token_tiles(const uint8_t* pp, int64_t stride, int64_t cols, const float* x, int64_t x_stride, int nt,
                     float* yp, int64_t y_stride, int rows) {
  constexpr int kT = KT;
  int t0 = 0;
  for (; t0 + kT <= nt; t0 += kT) tile_f16<NP, kT>(pp, stride, cols, x + t0 * x_stride, x_stride, yp + t0 * y_stride, y_stride, rows);
  const float* xt = x + t0 * x_stride;
  float* yt = yp + t0 * y_stride;
  switch (nt - t0) {
    case 0: break;
    case 1: tile_f16<NP, 1>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 2: tile_f16<NP, 2>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 3: tile_f16<NP, 3>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 4: tile_f16<NP, 4>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 5: tile_f16<NP, 5>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 6: tile_f16<NP, 6>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 7: tile_f16<NP, 7>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 8: tile_f16<NP, 8>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 9: tile_f16<NP, 9>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    case 10: tile_f16<NP, 10>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
    default: tile_f16<NP, 11>(pp, stride, cols, xt, x_stride, yt, y_stride, rows); break;
  }
}

void gemm_panel_f16(const uint8_t* panel, int64_t stride, int n_panels, int64_t cols, const float* x,
                    int64_t x_stride, int nt, float* y, int64_t y_stride, int n_rows) {
  if (nt == 1) {
    switch (n_panels) {
      case 1: tile_f16<1, 1>(panel, stride, cols, x, x_stride, y, y_stride, n_rows); break;
      case 2: tile_f16<2, 1>(panel, stride, cols, x, x_stride, y, y_stride, n_rows); break;
      case 3: tile_f16<3, 1>(panel, stride, cols, x, x_stride, y, y_stride, n_rows); break;
      default: tile_f16<4, 1>(panel, stride, cols, x, x_stride, y, y_stride, n_rows); break;
    }
    return;
  }
  // Two panels share each token's broadcast: half the activation loads per
  // FMA of a one-panel tile.
  int p = 0;
  for (; p + 2 <= n_panels; p += 2) f16_token_tiles<2, 8>(panel + p * stride, stride, cols, x, x_stride, nt, y + p * kPanelRows, y_stride, n_rows - p * kPanelRows);
  if (p < n_panels) f16_token_tiles<1, 12>(panel + p * stride, stride, cols, x, x_stride, nt, y + p * kPanelRows, y_stride, n_rows - p * kPanelRows);
}

}  // namespace

void install_avx512_gemm(TypeTraits* t) {
  t[static_cast<int>(DType::F16)].gemm_panel_f32 = gemm_panel_f16;
  t[static_cast<int>(DType::Q4_0)].gemm_panel = gemm_panel_q4_0;
  t[static_cast<int>(DType::Q8_0)].gemm_panel = gemm_panel_q8_0;
  t[static_cast<int>(DType::Q4_0)].gemv_panels = gemv_panels<true>;
  t[static_cast<int>(DType::Q8_0)].gemv_panels = gemv_panels<false>;
}

}  // namespace lineage
