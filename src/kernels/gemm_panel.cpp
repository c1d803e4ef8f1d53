// Panel packing and the scalar panel kernels (the reference the SIMD panel
// kernels must equal bit for bit). Compiled without ISA flags.
#include "kernels/gemm_panel.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/quant_blocks.h"
#include "tensor/fp16.h"

namespace lineage {

bool panel_supported(DType t) { return t == DType::Q4_0 || t == DType::Q8_0 || t == DType::F16; }

int panel_offset(DType t) { return t == DType::Q4_0 ? 8 : 128; }

int64_t panel_chunk_bytes(DType t) { return t == DType::Q4_0 ? 4 * 64 : 8 * 64; }

size_t panel_bytes(DType t, int64_t cols) {
  if (t == DType::F16) return static_cast<size_t>((cols * kPanelRows * 2 + 63) / 64 * 64);
  const int64_t nb = cols / kQK;
  // Rounded up so consecutive panels keep the 64-byte alignment of the loads.
  return static_cast<size_t>((nb * (panel_chunk_bytes(t) + kPanelRows * 2) + 63) / 64 * 64);
}

void pack_panel(DType t, const void* w, int64_t rows, int64_t cols, int64_t r0, uint8_t* dst) {
  if (t == DType::F16) {
    std::memset(dst, 0, panel_bytes(t, cols));
    uint16_t* out = reinterpret_cast<uint16_t*>(dst);
    const int n = static_cast<int>(std::min<int64_t>(kPanelRows, rows - r0));
    for (int r = 0; r < n; ++r) {
      const uint16_t* row = static_cast<const uint16_t*>(w) + (r0 + r) * cols;
      for (int64_t i = 0; i < cols; ++i) out[i * kPanelRows + r] = row[i];
    }
    return;
  }
  const int64_t nb = cols / kQK;
  const int64_t qb = panel_chunk_bytes(t);
  const size_t row_bytes = dtype_row_bytes(t, cols);
  uint8_t* qs = dst;
  uint16_t* d = reinterpret_cast<uint16_t*>(dst + nb * qb);
  std::memset(dst, 0, panel_bytes(t, cols));
  const int n = static_cast<int>(std::min<int64_t>(kPanelRows, rows - r0));
  for (int r = 0; r < n; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(r0 + r) * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* g = qs + b * qb + r * 4;
      if (t == DType::Q4_0) {
        const BlockQ4_0* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
        d[b * kPanelRows + r] = blk->d;
        for (int c = 0; c < 4; ++c) std::memcpy(g + c * 64, blk->qs + 4 * c, 4);
      } else {
        const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
        d[b * kPanelRows + r] = blk->d;
        for (int c = 0; c < 8; ++c)
          for (int j = 0; j < 4; ++j) g[c * 64 + j] = static_cast<uint8_t>(blk->qs[4 * c + j] ^ 0x80);
      }
    }
  }
}

namespace ref {

namespace {

// Value v (0..31) of row r in block group g, unsigned as stored.
int panel_value(DType t, const uint8_t* g, int r, int v) {
  if (t == DType::Q4_0) {
    const uint8_t byte = g[(v & 15) / 4 * 64 + r * 4 + (v & 3)];
    return v < 16 ? (byte & 15) : (byte >> 4);
  }
  return g[v / 4 * 64 + r * 4 + (v & 3)];
}

void gemm_panel(DType t, const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                int n_rows) {
  const int64_t qb = panel_chunk_bytes(t);
  const uint16_t* d = reinterpret_cast<const uint16_t*>(panel + nb * qb);
  for (int tok = 0; tok < nt; ++tok) {
    const int8_t* xq = x.qs + tok * x.qs_stride;
    const float* xd = x.d + tok * x.blk_stride;
    const int32_t* xc = x.corr + tok * x.blk_stride;
    for (int r = 0; r < n_rows; ++r) {
      float s = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* g = panel + b * qb;
        int32_t isum = xc[b];
        for (int v = 0; v < kQK; ++v) isum += panel_value(t, g, r, v) * xq[b * kQK + v];
        s += static_cast<float>(isum) * (fp16_to_f32(d[b * kPanelRows + r]) * xd[b]);
      }
      y[tok * y_stride + r] = s;
    }
  }
}

}  // namespace

void gemm_panel_q4_0(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                     int n_rows) {
  gemm_panel(DType::Q4_0, panel, nb, x, nt, y, y_stride, n_rows);
}

void gemm_panel_q8_0(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                     int n_rows) {
  gemm_panel(DType::Q8_0, panel, nb, x, nt, y, y_stride, n_rows);
}

void gemm_panel_f16(const uint8_t* panel, int64_t panel_stride, int n_panels, int64_t cols, const float* x,
                    int64_t x_stride, int nt, float* y, int64_t y_stride, int n_rows) {
  for (int p = 0; p < n_panels; ++p) {
    const uint16_t* w = reinterpret_cast<const uint16_t*>(panel + p * panel_stride);
    for (int t = 0; t < nt; ++t)
      for (int r = 0; r < kPanelRows && p * kPanelRows + r < n_rows; ++r) {
        float acc = 0;
        for (int64_t i = 0; i < cols; ++i) acc = std::fma(x[t * x_stride + i], fp16_to_f32(w[i * kPanelRows + r]), acc);
        y[t * y_stride + p * kPanelRows + r] = acc;
      }
  }
}

}  // namespace ref

}  // namespace lineage
