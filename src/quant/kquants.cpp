// K-type weight quantizers: search (quant/superblock.h), then pack into the
// block layouts of kernels/quant_blocks.h and quant_blocks_ext.h.
#include "quant/kquants.h"

#include "kernels/quant_blocks.h"
#include "kernels/quant_blocks_ext.h"
#include "quant/importance.h"
#include "quant/superblock.h"
#include "tensor/fp16.h"

#include <algorithm>

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

namespace {

// Two-bit fields as Q2_K and Q3_K store them: in each half of 128 values,
// value 32 * k + l sits at bits 2k..2k+1 of byte l.
void pack_2bit(const uint8_t* codes, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* c = codes + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>((c[0] & 3) | ((c[32] & 3) << 2) | ((c[64] & 3) << 4) | ((c[96] & 3) << 6));
    }
}

}  // namespace

void quantize_row_q2_k(const float* x, void* dst, int64_t n) {
  BlockQ2_K* b = static_cast<BlockQ2_K*>(dst);
  const AffineLayout layout{16, 16, 3, 15};
  float w[kQKK];
  int sc[16], mn[16];
  uint8_t q[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* xb = x + i * kQKK;
    importance_weights(xb, kQKK, importance_for_k_types(), w);
    const AffineSuper s = fit_affine_superblock(xb, w, layout, sc, mn, q);
    b[i].d = f32_to_fp16(s.d);
    b[i].dmin = f32_to_fp16(s.dmin);
    for (int j = 0; j < 16; ++j) b[i].scales[j] = static_cast<uint8_t>(sc[j] | (mn[j] << 4));
    pack_2bit(q, b[i].qs);
  }
}

void quantize_row_q3_k(const float* x, void* dst, int64_t n) {
  BlockQ3_K* b = static_cast<BlockQ3_K*>(dst);
  const SymmetricLayout layout{16, 16, -4, 3, -32, 31};
  float w[kQKK];
  int sc[16];
  int8_t q[kQKK];
  uint8_t codes[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* xb = x + i * kQKK;
    importance_weights(xb, kQKK, importance_for_k_types(), w);
    const float d = fit_symmetric_superblock(xb, w, layout, sc, q);
    b[i].d = f32_to_fp16(d);
    std::fill_n(b[i].scales, 12, 0);
    for (int j = 0; j < 16; ++j) {
      const int v = sc[j] + 32;
      b[i].scales[j % 8] |= static_cast<uint8_t>((v & 15) << (j < 8 ? 0 : 4));
      b[i].scales[8 + j % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (j / 4)));
    }
    std::fill_n(b[i].hmask, kQKK / 8, 0);
    for (int j = 0; j < kQKK; ++j) {
      codes[j] = static_cast<uint8_t>(q[j] + 4);
      if (codes[j] & 4) b[i].hmask[j % 32] |= static_cast<uint8_t>(1 << (j / 32));
    }
    pack_2bit(codes, b[i].qs);
  }
}

void quantize_row_q5_k(const float* x, void* dst, int64_t n) {
  BlockQ5_K* b = static_cast<BlockQ5_K*>(dst);
  const AffineLayout layout{8, 32, 31, 63};
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
    std::fill_n(b[i].qh, kQKK / 8, 0);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        b[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
        b[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
  }
}

}  // namespace lineage::quant
