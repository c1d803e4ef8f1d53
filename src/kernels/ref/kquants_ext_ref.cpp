// Scalar references for Q2_K, Q3_K and Q5_K against Q8_K activations. Each
// block is first decoded to its integer values in value order, so the bit
// layouts are written down once (here) and the dot products read like the
// formulas: y = d * sc * q - dmin * mn per sub-block. Integer sums are
// exact; the float part sums super-block by super-block in order.
#include <cstring>

#include "kernels/quant_blocks_ext.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/ref/ref_kernels_ext.h"
#include "tensor/fp16.h"

namespace lineage::ref {

namespace {

// Q2_K values 0..3: value 128h + 32j + l is bits 2j..2j+1 of qs[32h + l].
void unpack_q2_k(const BlockQ2_K& b, uint8_t* q) {
  for (int v = 0; v < kQKK; ++v) {
    const int h = v / 128, j = (v / 32) % 4, l = v % 32;
    q[v] = (b.qs[32 * h + l] >> (2 * j)) & 3;
  }
}

// Q3_K values -4..3: two low bits as in Q2_K, the third from hmask.
void unpack_q3_k(const BlockQ3_K& b, int8_t* q) {
  for (int v = 0; v < kQKK; ++v) {
    const int h = v / 128, j = (v / 32) % 4, l = v % 32;
    const int low = (b.qs[32 * h + l] >> (2 * j)) & 3;
    const int high = (b.hmask[l] >> (v / 32)) & 1;
    q[v] = static_cast<int8_t>((low | (high << 2)) - 4);
  }
}

// Q5_K values 0..31: chunk c = v / 64 reads qs[32c + l], low nibble for its
// first 32 values and high nibble for the next, with bit 2c (or 2c + 1) of
// qh[l] on top.
void unpack_q5_k(const BlockQ5_K& b, uint8_t* q) {
  for (int v = 0; v < kQKK; ++v) {
    const int c = v / 64, hi = (v / 32) % 2, l = v % 32;
    const uint8_t byte = b.qs[32 * c + l];
    const int nib = hi ? byte >> 4 : byte & 15;
    const int top = (b.qh[l] >> (2 * c + hi)) & 1;
    q[v] = static_cast<uint8_t>(nib | (top << 4));
  }
}

// Sum over n-value groups of scale[g] * sum(q * x) within the group.
template <typename Q, typename S>
int32_t scaled_dot(const Q* q, const int8_t* x, const S* scale, int group) {
  int32_t sum = 0;
  for (int g = 0; g < kQKK / group; ++g) {
    int32_t part = 0;
    for (int l = 0; l < group; ++l) part += q[group * g + l] * x[group * g + l];
    sum += part * scale[g];
  }
  return sum;
}

}  // namespace

void unpack_q3_k_scales(const uint8_t* packed, int8_t* sc) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? packed[j] & 15 : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    sc[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

void to_float_q2_k(const void* src, float* dst, int64_t n) {
  const BlockQ2_K* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint8_t q[kQKK];
    unpack_q2_k(b[i], q);
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * (b[i].scales[g] & 15), ml = dmin * (b[i].scales[g] >> 4);
      for (int l = 0; l < 16; ++l) dst[i * kQKK + 16 * g + l] = dl * q[16 * g + l] - ml;
    }
  }
}

void vec_dot_q2_k(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ2_K* a = static_cast<const BlockQ2_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint8_t q[kQKK], sc[16];
    unpack_q2_k(a[i], q);
    int32_t msum = 0;
    for (int g = 0; g < 16; ++g) {
      sc[g] = a[i].scales[g] & 15;
      msum += (a[i].scales[g] >> 4) * b[i].bsums[g];
    }
    const int32_t sum = scaled_dot(q, b[i].qs, sc, 16);
    s += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(sum) -
         b[i].d * fp16_to_f32(a[i].dmin) * static_cast<float>(msum);
  }
  *out = s;
}

void to_float_q3_k(const void* src, float* dst, int64_t n) {
  const BlockQ3_K* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    int8_t q[kQKK], sc[16];
    unpack_q3_k(b[i], q);
    unpack_q3_k_scales(b[i].scales, sc);
    const float d = fp16_to_f32(b[i].d);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * sc[g];
      for (int l = 0; l < 16; ++l) dst[i * kQKK + 16 * g + l] = dl * q[16 * g + l];
    }
  }
}

void vec_dot_q3_k(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ3_K* a = static_cast<const BlockQ3_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    int8_t q[kQKK], sc[16];
    unpack_q3_k(a[i], q);
    unpack_q3_k_scales(a[i].scales, sc);
    const int32_t sum = scaled_dot(q, b[i].qs, sc, 16);
    s += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(sum);
  }
  *out = s;
}

void to_float_q5_k(const void* src, float* dst, int64_t n) {
  const BlockQ5_K* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint8_t q[kQKK], sc[8], mn[8];
    unpack_q5_k(b[i], q);
    unpack_q4_k_scales(b[i].scales, sc, mn);
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    for (int g = 0; g < 8; ++g) {
      const float dl = d * sc[g], ml = dmin * mn[g];
      for (int l = 0; l < 32; ++l) dst[i * kQKK + 32 * g + l] = dl * q[32 * g + l] - ml;
    }
  }
}

void vec_dot_q5_k(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ5_K* a = static_cast<const BlockQ5_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint8_t q[kQKK], sc[8], mn[8];
    unpack_q5_k(a[i], q);
    unpack_q4_k_scales(a[i].scales, sc, mn);
    int32_t msum = 0;
    for (int g = 0; g < 8; ++g) msum += mn[g] * (b[i].bsums[2 * g] + b[i].bsums[2 * g + 1]);
    const int32_t sum = scaled_dot(q, b[i].qs, sc, 32);
    s += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(sum) -
         b[i].d * fp16_to_f32(a[i].dmin) * static_cast<float>(msum);
  }
  *out = s;
}

}  // namespace lineage::ref
