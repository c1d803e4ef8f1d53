// Pieces shared by the ops_*.cu kernels: status checks, warp reductions in
// a fixed butterfly order, and the writers of activation rows in each
// format (kernels/cuda/act_layout.h).
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/act_layout.h"
#include "kernels/device.h"

namespace lineage::cuda {

// A reported error is also taken off CUDA's last-error slot, so that the
// next launch check does not report it a second time.
inline void check_cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();
  fail(what, " failed: ", cudaGetErrorString(e));
}

// After a launch: a bad configuration is reported by the launch itself.
inline void check_launch(const char* kernel) { check_cuda(cudaGetLastError(), kernel); }

constexpr unsigned kFullMask = 0xffffffffu;

// Butterfly reductions: every lane ends with the same value (a + b and
// b + a are the same float), and the order depends on nothing but the lane
// layout. All 32 lanes must call them.
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v = __fadd_rn(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

__device__ __forceinline__ int warp_sum_int(int v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

// bfloat16 rounded to nearest even, NaN kept a NaN: tensor/fp16.h's rule.
__device__ __forceinline__ uint16_t bf16_bits(float f) {
  const uint32_t x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Element idx of an F32, F16 or BF16 activation buffer.
__device__ __forceinline__ void store_plain(ActFormat f, void* out, int64_t idx, float v) {
  switch (f) {
    case ActFormat::F32: static_cast<float*>(out)[idx] = v; break;
    case ActFormat::F16: static_cast<uint16_t*>(out)[idx] = __half_as_ushort(__float2half_rn(v)); break;
    case ActFormat::BF16: static_cast<uint16_t*>(out)[idx] = bf16_bits(v); break;
    case ActFormat::Q8: break;
  }
}

// Block b of row t of a Q8 buffer, one value per lane (lane i holds value
// b * 32 + i); all 32 lanes call it. d = max|x| / 127, q = x / d rounded
// to nearest even, s = sum of q.
__device__ __forceinline__ void store_q8_block(const Q8Planes& p, int64_t cols, int64_t t, int64_t b, int lane,
                                               float v) {
  const float amax = warp_max(fabsf(v));
  const float d = __fdiv_rn(amax, 127.0f);
  const int q = d == 0.0f ? 0 : __float2int_rn(__fdiv_rn(v, d));
  p.q[t * cols + b * 32 + lane] = static_cast<int8_t>(q);
  const int sum = warp_sum_int(q);
  if (lane == 0) {
    const int64_t nb = cols / 32;
    p.d[t * nb + b] = d;
    p.s[t * nb + b] = sum;
  }
}

// Checks an activation format's shape rule before a kernel writes it.
inline void check_act_cols(const char* op, ActFormat f, int64_t cols) {
  if (cols <= 0) fail(op, ": rows of ", cols, " values");
  if (f == ActFormat::Q8 && cols % 32 != 0) fail(op, ": Q8 activations need a multiple of 32 values, got ", cols);
}

// Blocks for `total` work items of `per_block` each, within a 1-D grid.
inline unsigned grid_for(const char* op, int64_t total, int64_t per_block) {
  const int64_t g = (total + per_block - 1) / per_block;
  if (g > 0x7fffffff) fail(op, ": ", total, " work items are more than one launch holds");
  return static_cast<unsigned>(g);
}

}  // namespace lineage::cuda
