// Row-interleaved weight panels for the matrix products of Q4_0 and Q8_0
// weights (int8, below) and of F16 weights (float activations, FMA; layout
// below). A panel holds kPanelRows rows arranged so that one 64-byte
// vector carries the same four consecutive values of all its rows: one
// vpdpbusd with a broadcast of four activation bytes then advances sixteen
// outputs at once, each 32-bit lane accumulating one row's exact block sum.
// Lanes are outputs, never partial sums, so every output follows the
// scalar reference order exactly (integer block sums, then, block by block
// in order, s += float(isum) * (d_w * d_x)) on every instruction set and for
// every batch size.
//
// Plain declarations only: the per-ISA kernel files include this header.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/type_traits.h"
#include "tensor/dtype.h"

namespace lineage {

constexpr int kPanelRows = 16;

// Panel layout for nb blocks of 32 values per row:
//   qs: nb groups of panel_chunk_bytes(type) bytes, 64-byte aligned; in
//       group b, the 64 bytes at c * 64 hold, for row r at r * 4, four
//       values of block b:
//       Q8_0: chunks c = 0..7, values 4c..4c+3, stored as q + 128 (unsigned)
//       Q4_0: chunks c = 0..3, bytes qs[4c..4c+3] of the block unchanged
//             (low nibbles: values 4c.., high nibbles: values 16 + 4c..,
//             both 0..15, that is q + 8)
//   d:  then nb * kPanelRows F16 scales, block-major (block b, row r at
//       b * kPanelRows + r).
//
// F16: cols groups of 32 bytes: column i holds the 16 rows' values at
//   i * 32 + r * 2. Products with float activations sum each output
//   sequentially over the columns with fused multiply-adds
//   (acc = fma(x[i], w[i], acc), acc starting at 0) on every ISA.
// Rows past the matrix in the last panel are zero.
// The stored values are offset to be unsigned; the activations carry the
// correction -offset * sum(x) per block (see QuantActs::corr).
bool panel_supported(DType t);
int panel_offset(DType t);             // 8 (Q4_0) or 128 (Q8_0)
int64_t panel_chunk_bytes(DType t);    // bytes of qs per block (256 or 512)
size_t panel_bytes(DType t, int64_t cols);
// Packs rows [r0, min(r0 + kPanelRows, rows)) of w (GGUF layout, rows of
// `cols` values) into dst (panel_bytes(t, cols), 64-byte aligned).
void pack_panel(DType t, const void* w, int64_t rows, int64_t cols, int64_t r0, uint8_t* dst);

// Activations quantized once per matrix product: Q8_0 rounding (the same
// values from_float_q8_0 gives), split into planes so the kernels broadcast
// four bytes at a time. Token t uses qs + t * qs_stride, d + t * blk_stride,
// corr + t * blk_stride.
struct QuantActs {
  const int8_t* qs;     // [tokens][cols]
  const float* d;       // [tokens][nb] block scales (F16 values, widened)
  const int32_t* corr;  // [tokens][nb] -panel_offset(type) * sum of the block's qs
  int64_t qs_stride;
  int64_t blk_stride;
};

// GemmPanelFn (kernels/type_traits.h) writes y[t * y_stride + r] for t < nt,
// r < n_rows (<= kPanelRows) from one panel.
// GemmPanelF32Fn does the same for n_panels (1..kMaxPanelsF32) consecutive
// F16 panels, panel_stride bytes apart, whose rows are consecutive outputs:
// y[t * y_stride + r] for r < n_rows (<= 16 * n_panels), x[t * x_stride + i].
constexpr int kMaxPanelsF32 = 4;
// Panels one GemvPanelsFn call reads side by side.
constexpr int kMaxGemvPanels = 4;

// Fill the gemm_panel entries of a per-ISA table (kernels/x86/gemm_*.cpp).
void install_avx512_gemm(TypeTraits* table);
void install_avx2_gemm(TypeTraits* table);

namespace ref {
void gemm_panel_q4_0(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                     int n_rows);
void gemm_panel_q8_0(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                     int n_rows);
void gemm_panel_f16(const uint8_t* panel, int64_t panel_stride, int n_panels, int64_t cols, const float* x,
                    int64_t x_stride, int nt, float* y, int64_t y_stride, int n_rows);
}  // namespace ref

}  // namespace lineage
