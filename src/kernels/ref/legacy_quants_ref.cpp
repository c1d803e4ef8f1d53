// Scalar references for the 32-value block types with an offset or a fifth
// bit (Q4_1, Q5_0, Q5_1) and for Q8_1, the activation format of Q4_1/Q5_1.
// Integer partial sums are exact; the float part sums block by block in
// order. The Q8_1 quantizer follows the reference quantizer (scale
// amax / 127, roundf, F16 scale and F16 s = d * sum(q) with the unrounded d),
// so activations match the ones the golden logits were computed with.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/quant_blocks_ext.h"
#include "kernels/ref/ref_kernels_ext.h"
#include "tensor/fp16.h"

namespace lineage::ref {

namespace {

// The 32 unsigned values of a Q4_1 block in value order.
void unpack_nibbles(const uint8_t* qs, uint8_t* q) {
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = qs[j] & 15;
    q[j + kQK / 2] = qs[j] >> 4;
  }
}

// The 32 unsigned five-bit values (0..31) of a Q5_0 / Q5_1 block.
void unpack_five_bits(const uint8_t* qs, const uint8_t* qh_bytes, uint8_t* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  unpack_nibbles(qs, q);
  for (int j = 0; j < kQK; ++j) q[j] = static_cast<uint8_t>(q[j] | (((qh >> j) & 1) << 4));
}

int32_t dot_unsigned(const uint8_t* q, const int8_t* x) {
  int32_t s = 0;
  for (int j = 0; j < kQK; ++j) s += q[j] * x[j];
  return s;
}

}  // namespace

void to_float_q8_1(const void* src, float* dst, int64_t n) {
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = b[i].qs[j] * d;
  }
}

void from_float_q8_1(const float* src, void* dst, int64_t n) {
  BlockQ8_1* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      b[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
      sum += b[i].qs[j];
    }
    b[i].d = f32_to_fp16(d);
    b[i].s = f32_to_fp16(static_cast<float>(sum) * d);
  }
}

void to_float_q4_1(const void* src, float* dst, int64_t n) {
  const BlockQ4_1* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint8_t q[kQK];
    unpack_nibbles(b[i].qs, q);
    const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = q[j] * d + m;
  }
}

// sum_j (q_j d + m) x_j d_x = d d_x sum(q_j x_j) + m s_x.
void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ4_1* a = static_cast<const BlockQ4_1*>(w);
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint8_t q[kQK];
    unpack_nibbles(a[i].qs, q);
    const int32_t sum = dot_unsigned(q, b[i].qs);
    s += static_cast<float>(sum) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d)) +
         fp16_to_f32(a[i].m) * fp16_to_f32(b[i].s);
  }
  *out = s;
}

void to_float_q5_0(const void* src, float* dst, int64_t n) {
  const BlockQ5_0* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint8_t q[kQK];
    unpack_five_bits(b[i].qs, b[i].qh, q);
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = (q[j] - 16) * d;
  }
}

void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ5_0* a = static_cast<const BlockQ5_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint8_t q[kQK];
    unpack_five_bits(a[i].qs, a[i].qh, q);
    int32_t sum = 0;
    for (int j = 0; j < kQK; ++j) sum += (q[j] - 16) * b[i].qs[j];
    s += static_cast<float>(sum) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d));
  }
  *out = s;
}

void to_float_q5_1(const void* src, float* dst, int64_t n) {
  const BlockQ5_1* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint8_t q[kQK];
    unpack_five_bits(b[i].qs, b[i].qh, q);
    const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = q[j] * d + m;
  }
}

void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ5_1* a = static_cast<const BlockQ5_1*>(w);
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint8_t q[kQK];
    unpack_five_bits(a[i].qs, a[i].qh, q);
    const int32_t sum = dot_unsigned(q, b[i].qs);
    s += static_cast<float>(sum) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d)) +
         fp16_to_f32(a[i].m) * fp16_to_f32(b[i].s);
  }
  *out = s;
}

}  // namespace lineage::ref
