// Q4_K and Q6_K weight quantizers: search (quant/superblock.h), then pack
// into the block layouts of kernels/quant_blocks.h.
#include "quant/kquants.h"

#include "kernels/quant_blocks.h"
#include "quant/importance.h"
#include "quant/superblock.h"
#include "tensor/fp16.h"

namespace lineage::quant {

void pack_k_scales_mins(const int* sc, const int* mn, uint8_t* out) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>(sc[j]);
    out[j + 4] = static_cast<uint8_t>(mn[j]);
  }
  for (int j = 4; j < 8; ++j) {
    out[j + 4] = static_cast<uint8_t>((sc[j] & 15) | ((mn[j] & 15) << 4));
    out[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
    out[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
  }
}

void quantize_row_q4_k(const float* x, void* dst, int64_t n) {
  BlockQ4_K* b = static_cast<BlockQ4_K*>(dst);
  const AffineLayout layout{8, 32, 15, 63};
  float w[kQKK];
  int sc[8], mn[8];
  uint8_t q[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* xb = x + i * kQKK;
    importance_weights(xb, kQKK, importance_for_k_types(), w);
    const AffineSuper s = fit_affine_superblock(xb, w, layout, sc, mn, q);
    b[i].d = f32_to_fp16(s.d);
    b[i].dmin = f32_to_fp16(s.dmin);
    pack_k_scales_mins(sc, mn, b[i].scales);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) b[i].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

void quantize_row_q6_k(const float* x, void* dst, int64_t n) {
  BlockQ6_K* b = static_cast<BlockQ6_K*>(dst);
  const SymmetricLayout layout{16, 16, -32, 31, -128, 127};
  float w[kQKK];
  int sc[16];
  int8_t q[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* xb = x + i * kQKK;
    importance_weights(xb, kQKK, importance_for_k_types(), w);
    const float d = fit_symmetric_superblock(xb, w, layout, sc, q);
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < 16; ++j) b[i].scales[j] = static_cast<int8_t>(sc[j]);
    for (int h = 0; h < 2; ++h) {
      const int8_t* v = q + 128 * h;
      uint8_t* ql = b[i].ql + 64 * h;
      uint8_t* qh = b[i].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        const int c0 = v[l] + 32, c1 = v[l + 32] + 32, c2 = v[l + 64] + 32, c3 = v[l + 96] + 32;
        ql[l] = static_cast<uint8_t>((c0 & 15) | ((c2 & 15) << 4));
        ql[l + 32] = static_cast<uint8_t>((c1 & 15) | ((c3 & 15) << 4));
        qh[l] = static_cast<uint8_t>((c0 >> 4) | ((c1 >> 4) << 2) | ((c2 >> 4) << 4) | ((c3 >> 4) << 6));
      }
    }
  }
}

}  // namespace lineage::quant
