// Scalar reference kernels for the quantized types. Integer partial sums are
// exact; the float part sums block by block in order, which fixes what the
// SIMD versions are compared against. The Q8_0 and Q4_0 quantizers reproduce
// the reference GGUF quantizer bit for bit (same scale choice, same rounding,
// F16 scales rounded to nearest even).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/quant_blocks.h"
#include "kernels/ref/ref_kernels.h"
#include "tensor/fp16.h"

namespace lineage::ref {

void to_float_q8_0(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = b[i].qs[j] * d;
  }
}

void from_float_q8_0(const float* src, void* dst, int64_t n) {
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) b[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
  }
}

void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ8_0* a = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int32_t sum = 0;
    for (int j = 0; j < kQK; ++j) sum += a[i].qs[j] * b[i].qs[j];
    s += static_cast<float>(sum) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d));
  }
  *out = s;
}

void to_float_q4_0(const void* src, float* dst, int64_t n) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[i * kQK + j] = ((b[i].qs[j] & 15) - 8) * d;
      dst[i * kQK + j + kQK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void from_float_q4_0(const float* src, void* dst, int64_t n) {
  BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    // The signed extreme maps to -8, so the full [-8, 7] range is used on the
    // side that needs it most.
    float amax = 0, vmax = 0;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        vmax = x[j];
      }
    }
    const float d = vmax / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + kQK / 2] * id + 8.5f)));
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ4_0* a = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int32_t sum = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sum += ((a[i].qs[j] & 15) - 8) * b[i].qs[j];
      sum += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + kQK / 2];
    }
    s += static_cast<float>(sum) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d));
  }
  *out = s;
}

void to_float_q8_k(const void* src, float* dst, int64_t n) {
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i)
    for (int j = 0; j < kQKK; ++j) dst[i * kQKK + j] = b[i].qs[j] * b[i].d;
}

// Symmetric: d = amax / 127, values in [-127, 127], so the int8 products in
// the SIMD kernels never hit the -128 corner cases.
void from_float_q8_k(const float* src, void* dst, int64_t n) {
  BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float* x = src + i * kQKK;
    float amax = 0;
    for (int j = 0; j < kQKK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    b[i].d = amax != 0 ? 1.0f / id : 0.0f;
    for (int j = 0; j < kQKK; ++j) {
      const int q = static_cast<int>(std::nearbyintf(x[j] * id));
      b[i].qs[j] = static_cast<int8_t>(std::max(-127, std::min(127, q)));
    }
    for (int k = 0; k < kQKK / 16; ++k) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += b[i].qs[k * 16 + j];
      b[i].bsums[k] = static_cast<int16_t>(s);
    }
  }
}

void unpack_q4_k_scales(const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    mn[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>((q[j + 4] & 15) | ((q[j - 4] >> 6) << 4));
    mn[j] = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void to_float_q4_k(const void* src, float* dst, int64_t n) {
  const BlockQ4_K* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint8_t sc[8], mn[8];
    unpack_q4_k_scales(b[i].scales, sc, mn);
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    float* y = dst + i * kQKK;
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = b[i].qs + 32 * c;
      const float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
      const float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
      for (int l = 0; l < 32; ++l) {
        y[64 * c + l] = d1 * (q[l] & 15) - m1;
        y[64 * c + 32 + l] = d2 * (q[l] >> 4) - m2;
      }
    }
  }
}

void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ4_K* a = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint8_t sc[8], mn[8];
    unpack_q4_k_scales(a[i].scales, sc, mn);
    int32_t sum = 0, msum = 0;
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = a[i].qs + 32 * c;
      const int8_t* y = b[i].qs + 64 * c;
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (q[l] & 15) * y[l];
        hi += (q[l] >> 4) * y[32 + l];
      }
      sum += lo * sc[2 * c] + hi * sc[2 * c + 1];
    }
    for (int j = 0; j < 8; ++j) msum += mn[j] * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
    s += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(sum) -
         b[i].d * fp16_to_f32(a[i].dmin) * static_cast<float>(msum);
  }
  *out = s;
}

// Decodes the 6-bit values of one Q6_K super-block, minus 32, in value order.
static void unpack_q6_k(const BlockQ6_K& b, int8_t* q) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    int8_t* o = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      o[l] = static_cast<int8_t>(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
      o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
      o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

void to_float_q6_k(const void* src, float* dst, int64_t n) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    int8_t q[kQKK];
    unpack_q6_k(b[i], q);
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQKK; ++j) dst[i * kQKK + j] = d * b[i].scales[j / 16] * q[j];
  }
}

void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x) {
  const BlockQ6_K* a = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  float s = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    int8_t q[kQKK];
    unpack_q6_k(a[i], q);
    int32_t sum = 0;
    for (int k = 0; k < kQKK / 16; ++k) {
      int32_t part = 0;
      for (int j = 0; j < 16; ++j) part += q[16 * k + j] * b[i].qs[16 * k + j];
      sum += part * a[i].scales[k];
    }
    s += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(sum);
  }
  *out = s;
}

}  // namespace lineage::ref
