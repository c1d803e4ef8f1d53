// Weight quantizers for the 32-value block types with a searched scale:
// Q4_1, Q5_1 (scale and offset) and Q8_0, Q5_0, Q4_0 (scale only).
#include <cstring>

#include "kernels/quant_blocks_ext.h"
#include "quant/fit.h"
#include "quant/importance.h"
#include "quant/kquants.h"
#include "tensor/fp16.h"

namespace lineage::quant {

namespace {

float to_f16_value(float v) { return fp16_to_f32(f32_to_fp16(v)); }

// Fits scale and offset, then re-codes with the F16 values the file keeps.
void fit_block_affine(const float* x, int qmax, uint16_t* d, uint16_t* m, uint8_t* q) {
  float w[kQK];
  importance_weights(x, kQK, importance_for_32_block_types(), w);
  const Affine a = fit_affine(x, w, kQK, qmax, false, q);
  *d = f32_to_fp16(a.scale);
  *m = f32_to_fp16(a.offset);
  affine_error(x, w, kQK, to_f16_value(a.scale), to_f16_value(a.offset), qmax, q);
}

// The fifth bits: bit j of qh is bit 4 of code j.
void pack_5bit(const uint8_t* codes, uint8_t* qs, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((codes[j] & 15) | ((codes[j + 16] & 15) << 4));
    h |= static_cast<uint32_t>(codes[j] >> 4) << j;
    h |= static_cast<uint32_t>(codes[j + 16] >> 4) << (j + 16);
  }
  for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(h >> (8 * k));
}

}  // namespace

void quantize_row_q4_1(const float* x, void* dst, int64_t n) {
  BlockQ4_1* b = static_cast<BlockQ4_1*>(dst);
  uint8_t q[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    fit_block_affine(x + i * kQK, 15, &b[i].d, &b[i].m, q);
    for (int j = 0; j < kQK / 2; ++j) b[i].qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
  }
}

void quantize_row_q5_1(const float* x, void* dst, int64_t n) {
  BlockQ5_1* b = static_cast<BlockQ5_1*>(dst);
  uint8_t q[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    fit_block_affine(x + i * kQK, 31, &b[i].d, &b[i].m, q);
    pack_5bit(q, b[i].qs, b[i].qh);
  }
}

namespace {
// Fits the block's scale to codes in [qmin, qmax], stores it as F16 and
// re-codes with the stored value.
void fit_block_symmetric(const float* xb, int qmin, int qmax, uint16_t* d, int8_t* q) {
  float w[kQK];
  importance_weights(xb, kQK, importance_for_32_block_types(), w);
  const float s = fit_symmetric(xb, w, kQK, qmin, qmax, q);
  *d = f32_to_fp16(s);
  symmetric_error(xb, w, kQK, to_f16_value(s), qmin, qmax, q);
}
}  // namespace

// Symmetric codes in [-127, 127], as the reference rule writes them (the
// dot-product kernels may rely on -128 never appearing).
void quantize_row_q8_0(const float* x, void* dst, int64_t n) {
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  int8_t q[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    fit_block_symmetric(x + i * kQK, -127, 127, &b[i].d, q);
    std::memcpy(b[i].qs, q, kQK);
  }
}

void quantize_row_q4_0(const float* x, void* dst, int64_t n) {
  BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
  int8_t q[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    fit_block_symmetric(x + i * kQK, -8, 7, &b[i].d, q);
    for (int j = 0; j < kQK / 2; ++j)
      b[i].qs[j] = static_cast<uint8_t>((q[j] + 8) | ((q[j + 16] + 8) << 4));
  }
}

void quantize_row_q5_0(const float* x, void* dst, int64_t n) {
  BlockQ5_0* b = static_cast<BlockQ5_0*>(dst);
  int8_t q[kQK];
  uint8_t codes[kQK];
  for (int64_t i = 0; i < n / kQK; ++i) {
    fit_block_symmetric(x + i * kQK, -16, 15, &b[i].d, q);
    for (int j = 0; j < kQK; ++j) codes[j] = static_cast<uint8_t>(q[j] + 16);
    pack_5bit(codes, b[i].qs, b[i].qh);
  }
}

}  // namespace lineage::quant
