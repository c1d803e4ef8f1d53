// Per-block arithmetic of the quantized matrix products, shared by every
// kernel that computes them (the warp-per-row decode kernel, the tiled
// tensor-core kernel, the expert products). A block's integer sum is exact
// however it is formed (dp4a or mma), so the float steps written here, once,
// are what makes a row's result the same in every kernel: each is an
// explicit sequence of IEEE operations (the library is built with
// --fmad=false, and every fused multiply-add is spelled out).
#pragma once
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/matmul_layout.h"

namespace lineage::cuda {

constexpr uint32_t kLowNibbles = 0x0F0F0F0Fu;

__device__ __forceinline__ float half_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// (float)v for |v| < 2^22, exactly like __int2float_rn but on the full-rate
// integer and float pipes (the conversion unit is the tile kernel's
// bottleneck otherwise): 1.5 * 2^23 + v is exact in float.
__device__ __forceinline__ float small_int_to_float(int v) {
  return __fsub_rn(__int_as_float(0x4B400000 + v), 12582912.0f);
}

// Four bytes of 0..63 to the signed values minus 32 (no borrow crosses a
// byte: each byte is at least 128 when 32 is taken off).
__device__ __forceinline__ uint32_t minus32_bytes(uint32_t x) { return ((x | 0x80808080u) - 0x20202020u) ^ 0x80808080u; }

// Q6_K: the 6-bit values of word t (0..3) of a block, signed, as the low
// half (values 4t..4t+3) and the high half (16+4t..16+4t+3).
__device__ __forceinline__ void q6_words(uint32_t nib, uint32_t hi0, uint32_t hi1, int t, uint32_t& lo, uint32_t& hi) {
  const uint32_t h = (t & 1) ? hi1 : hi0;
  uint32_t hl, hh;
  if (t < 2) {
    hl = (h << 4) & 0x30303030u;
    hh = (h << 2) & 0x30303030u;
  } else {
    hl = h & 0x30303030u;
    hh = (h >> 2) & 0x30303030u;
  }
  lo = minus32_bytes((nib & kLowNibbles) | hl);
  hi = minus32_bytes(((nib >> 4) & kLowNibbles) | hh);
}

// Per-type block data and float steps. `isum` is the exact integer sum of
// weight value times activation value over the block (Q6_K: over values
// 0..15 and 16..31 separately), with the stored (unsigned for Q4_0, Q4_K,
// Q6_K-minus-32 signed) weight values; dx, sx: the activation block's
// scale and sum of its 32 int8 values.
struct Q40 {
  static constexpr int kQuant = 16, kMeta = 2;
  struct Meta {
    float d;
  };
  __device__ static Meta meta(const uint8_t* m) { return {half_bits_to_float(*reinterpret_cast<const uint16_t*>(m))}; }
  __device__ static float step(float acc, const Meta& w, int isum, int /*isum_hi*/, float dx, int sx) {
    const int v = isum - 8 * sx;  // sum((q - 8) * x), exact, |v| <= 32 * 8 * 127
    return __fmaf_rn(__fmul_rn(w.d, dx), small_int_to_float(v), acc);
  }
};

struct Q80 {
  static constexpr int kQuant = 32, kMeta = 2;
  using Meta = Q40::Meta;
  __device__ static Meta meta(const uint8_t* m) { return Q40::meta(m); }
  __device__ static float step(float acc, const Meta& w, int isum, int, float dx, int) {
    return __fmaf_rn(__fmul_rn(w.d, dx), small_int_to_float(isum), acc);  // |isum| <= 32 * 128 * 127
  }
};

struct Q4K {
  static constexpr int kQuant = 16, kMeta = 8;
  struct Meta {
    float ws, wm;
  };
  __device__ static Meta meta(const uint8_t* m) {
    const float* f = reinterpret_cast<const float*>(m);
    return {f[0], f[1]};
  }
  __device__ static float step(float acc, const Meta& w, int isum, int, float dx, int sx) {
    acc = __fmaf_rn(__fmul_rn(w.ws, dx), small_int_to_float(isum), acc);  // 0 <= q <= 15
    return __fmaf_rn(-__fmul_rn(w.wm, dx), small_int_to_float(sx), acc);
  }
};

struct Q6K {
  static constexpr int kQuant = 16, kMeta = 12;
  struct Meta {
    uint32_t hi0, hi1;
    float d;
    int sc_lo, sc_hi;
  };
  __device__ static Meta meta(const uint8_t* m) {
    const uint32_t* w = reinterpret_cast<const uint32_t*>(m);
    const uint32_t w2 = w[2];
    Meta r;
    r.hi0 = w[0];
    r.hi1 = w[1];
    r.d = half_bits_to_float(static_cast<uint16_t>(w2 & 0xffffu));
    r.sc_lo = static_cast<int8_t>((w2 >> 16) & 0xff);
    r.sc_hi = static_cast<int8_t>(w2 >> 24);
    return r;
  }
  __device__ static float step(float acc, const Meta& w, int isum_lo, int isum_hi, float dx, int) {
    const int v = w.sc_lo * isum_lo + w.sc_hi * isum_hi;  // exact: |v| < 2^24
    return __fmaf_rn(__fmul_rn(w.d, dx), __int2float_rn(v), acc);
  }
};

// Integer sums of one block against 32 int8 activations (x: 8 words), with
// dp4a. `q` holds the block's kQuant bytes as words.
template <class T>
__device__ __forceinline__ void block_isum(const uint32_t* q, const typename T::Meta& m, const int* x, int& lo, int& hi);

template <>
__device__ __forceinline__ void block_isum<Q40>(const uint32_t* q, const Q40::Meta&, const int* x, int& lo, int& hi) {
  int s = 0;
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    s = __dp4a(static_cast<int>(q[t] & kLowNibbles), x[t], s);
    s = __dp4a(static_cast<int>((q[t] >> 4) & kLowNibbles), x[4 + t], s);
  }
  lo = s;
  hi = 0;
}

template <>
__device__ __forceinline__ void block_isum<Q4K>(const uint32_t* q, const Q4K::Meta&, const int* x, int& lo, int& hi) {
  block_isum<Q40>(q, Q40::Meta{}, x, lo, hi);
}

template <>
__device__ __forceinline__ void block_isum<Q80>(const uint32_t* q, const Q80::Meta&, const int* x, int& lo, int& hi) {
  int s = 0;
#pragma unroll
  for (int t = 0; t < 8; ++t) s = __dp4a(static_cast<int>(q[t]), x[t], s);
  lo = s;
  hi = 0;
}

template <>
__device__ __forceinline__ void block_isum<Q6K>(const uint32_t* q, const Q6K::Meta& m, const int* x, int& lo, int& hi) {
  int a = 0, b = 0;
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    uint32_t wl, wh;
    q6_words(q[t], m.hi0, m.hi1, t, wl, wh);
    a = __dp4a(static_cast<int>(wl), x[t], a);
    b = __dp4a(static_cast<int>(wh), x[4 + t], b);
  }
  lo = a;
  hi = b;
}

// A row's total from its segment partials, in segment order.
__device__ __forceinline__ float merge_partial(float total, float partial, bool first) {
  return first ? partial : __fadd_rn(total, partial);
}

__device__ __forceinline__ void store_output(float* y, float v, bool accumulate) {
  *y = accumulate ? __fadd_rn(*y, v) : v;
}

}  // namespace lineage::cuda
