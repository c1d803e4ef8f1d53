// Products of float weights: F16 / BF16 on the tensor cores (mma m16n8k16,
// float accumulation), F32 with plain fused multiply-adds.
//
// One kernel serves every batch size for each, so a row's result cannot
// depend on which kernel ran. F16 / BF16: a block takes a 16-row group and
// up to 64 tokens (8 columns of 8); warp s chains the mma over the chunks
// of segment s from a zero accumulator, and the segment partials are added
// in order. An element of an mma result depends only on its own row, its
// own column and its accumulator, so a token's result is the same in
// whatever column and next to whatever tokens it sits.
#include "kernels/cuda/matmul_blocks.cuh"
#include "kernels/cuda/matmul_kernels.cuh"
#include "kernels/cuda/matmul_layout.h"

namespace lineage::cuda {
namespace {

__device__ __forceinline__ float quiet_nan() { return __int_as_float(0x7fc00000); }

// The activation row of a plain product's token or an expert pair.
struct RowPick {
  int64_t wrow0;  // first weight row (of the chosen expert)
  int64_t t0;     // first output row
  int64_t arow0;  // first activation row
  int nt;         // tokens (1 for a pair)
  bool valid;
};

__device__ __forceinline__ RowPick pick_rows(const ProductRows& pr, int64_t tile, int tile_tokens, int64_t rows) {
  RowPick p;
  if (pr.ids != nullptr) {
    const int e = pr.ids[tile];
    p.valid = e >= 0 && e < pr.n_stack;
    p.wrow0 = p.valid ? static_cast<int64_t>(e) * rows : 0;
    p.t0 = tile;
    p.arow0 = pr.per_pair ? tile : tile / pr.k;
    p.nt = 1;
  } else {
    p.valid = true;
    p.wrow0 = 0;
    p.t0 = tile * tile_tokens;
    p.arow0 = p.t0;
    p.nt = static_cast<int>(pr.n - p.t0 < tile_tokens ? pr.n - p.t0 : tile_tokens);
  }
  return p;
}

// ---- F16 / BF16 ---------------------------------------------------------------

constexpr int kHalfWarps = 8;     // = the most segments
constexpr int kHalfTokens = 64;   // 8 mma columns of 8

struct HalfArgs {
  const uint4* w;
  int64_t rows;  // per stacked matrix
  int64_t cols;
  HalfGeom g;
  const uint16_t* act;
  float* y;
  ProductRows pr;
};

template <bool kBf16>
__device__ __forceinline__ void mma_half(float* c, const uint4& a, uint32_t b0, uint32_t b1) {
  if constexpr (kBf16) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b0), "r"(b1));
  }
}

// Columns k and k + 1 of an activation row as one register (zero past the end).
__device__ __forceinline__ uint32_t act_pair(const uint16_t* x, int64_t k, int64_t cols) {
  const uint32_t lo = k < cols ? __ldg(x + k) : 0u;
  const uint32_t hi = k + 1 < cols ? __ldg(x + k + 1) : 0u;
  return lo | (hi << 16);
}

// Grid: x = 16-row groups (plus one for experts, whose rows may start
// inside a group), y walks token tiles or pairs.
template <bool kBf16>
__global__ void __launch_bounds__(kHalfWarps * 32) half_tiles_kernel(HalfArgs a) {
  __shared__ float part[kHalfWarps][16][kHalfTokens];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int gq = lane >> 2, tq = lane & 3;
  const int nc = a.g.nc, S = a.g.S;
  const bool experts = a.pr.ids != nullptr;
  const int64_t n_tiles = experts ? a.pr.n : (a.pr.n + kHalfTokens - 1) / kHalfTokens;
  for (int64_t tile = blockIdx.y; tile < n_tiles; tile += gridDim.y) {
    const RowPick p = pick_rows(a.pr, tile, kHalfTokens, a.rows);
    if (!p.valid) {  // an expert id out of range: the pair's outputs are NaN
      for (int64_t r = static_cast<int64_t>(blockIdx.x) * 16 + threadIdx.x; r < a.rows && threadIdx.x < 16;
           r += 16 * gridDim.x)
        a.y[p.t0 * a.pr.ldy + r] = quiet_nan();
      continue;
    }
    const int64_t group = p.wrow0 / 16 + blockIdx.x;
    if (group * 16 >= p.wrow0 + a.rows) continue;  // past this matrix (uniform over the block)
    const int used = (p.nt + 7) / 8;
    float c[8][4];
#pragma unroll
    for (int ni = 0; ni < 8; ++ni) c[ni][0] = c[ni][1] = c[ni][2] = c[ni][3] = 0.0f;
    if (warp < S) {
      const int c_begin = warp * nc / S, c_end = (warp + 1) * nc / S;
      const uint4* wp = a.w + (group * nc) * 32 + lane;
#pragma unroll 2
      for (int ch = c_begin; ch < c_end; ++ch) {
        const uint4 av = __ldg(wp + static_cast<int64_t>(ch) * 32);
        const int64_t k0 = static_cast<int64_t>(ch) * 16 + 2 * tq;
#pragma unroll
        for (int ni = 0; ni < 8; ++ni) {
          if (ni >= used) continue;  // uniform
          const int tok = ni * 8 + gq;
          uint32_t b0 = 0, b1 = 0;
          if (tok < p.nt) {
            const uint16_t* x = a.act + (p.arow0 + tok) * a.cols;
            b0 = act_pair(x, k0, a.cols);
            b1 = act_pair(x, k0 + 8, a.cols);
          }
          mma_half<kBf16>(c[ni], av, b0, b1);
        }
      }
#pragma unroll
      for (int ni = 0; ni < 8; ++ni) {
        if (ni >= used) continue;
#pragma unroll
        for (int e = 0; e < 4; ++e) part[warp][gq + 8 * (e >> 1)][ni * 8 + 2 * tq + (e & 1)] = c[ni][e];
      }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < 16 * kHalfTokens; idx += kHalfWarps * 32) {
      const int m = idx / kHalfTokens, tk = idx % kHalfTokens;
      const int64_t R = group * 16 + m;
      if (tk >= p.nt || R < p.wrow0 || R >= p.wrow0 + a.rows) continue;
      float total = 0.0f;
      for (int s = 0; s < S; ++s) total = merge_partial(total, part[s][m][tk], s == 0);
      store_output(a.y + (p.t0 + tk) * a.pr.ldy + (R - p.wrow0), total, a.pr.accumulate);
    }
    __syncthreads();
  }
}

// ---- F32 -----------------------------------------------------------------------

constexpr int kF32Warps = 4;
constexpr int kF32Tokens = 8;

struct F32Args {
  const float* w;
  int64_t rows;
  int64_t cols;
  const float* act;
  float* y;
  ProductRows pr;
};

// A warp per row; lane s sums columns [s * cols / S, (s + 1) * cols / S).
__global__ void __launch_bounds__(kF32Warps * 32) f32_rows_kernel(F32Args a) {
  const int lane = threadIdx.x & 31;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kF32Warps + (threadIdx.x >> 5);
  if (r >= a.rows) return;
  const int S = f32_segments(a.cols);
  const bool experts = a.pr.ids != nullptr;
  const int64_t n_tiles = experts ? a.pr.n : (a.pr.n + kF32Tokens - 1) / kF32Tokens;
  for (int64_t tile = blockIdx.y; tile < n_tiles; tile += gridDim.y) {
    const RowPick p = pick_rows(a.pr, tile, kF32Tokens, a.rows);
    if (!p.valid) {
      if (lane == 0) a.y[p.t0 * a.pr.ldy + r] = quiet_nan();
      continue;
    }
    const float* w = a.w + (p.wrow0 + r) * a.cols;
    for (int j = 0; j < p.nt; ++j) {
      const float* x = a.act + (p.arow0 + j) * a.cols;
      float acc = 0.0f;
      if (lane < S) {
        const int64_t c_end = (lane + 1) * a.cols / S;
        for (int64_t c = lane * a.cols / S; c < c_end; ++c) acc = __fmaf_rn(__ldg(w + c), __ldg(x + c), acc);
      }
      float total = 0.0f;
      for (int s = 0; s < S; ++s) total = merge_partial(total, __shfl_sync(0xffffffffu, acc, s), s == 0);
      if (lane == 0) store_output(a.y + (p.t0 + j) * a.pr.ldy + r, total, a.pr.accumulate);
    }
  }
}

unsigned grid_y(int64_t tiles) { return static_cast<unsigned>(tiles < 65535 ? tiles : 65535); }

}  // namespace

void launch_half(const DevMatrix& w, const void* act, const ProductRows& pr, float* y, cudaStream_t s) {
  HalfArgs a;
  a.w = static_cast<const uint4*>(w.data);
  a.rows = w.rows;
  a.cols = w.cols;
  a.g = half_geom(w.rows * w.n_stack, w.cols);
  a.act = static_cast<const uint16_t*>(act);
  a.y = y;
  a.pr = pr;
  const bool experts = pr.ids != nullptr;
  const int64_t groups = (w.rows + 15) / 16 + (experts ? 1 : 0);
  const int64_t tiles = experts ? pr.n : (pr.n + kHalfTokens - 1) / kHalfTokens;
  const dim3 grid(static_cast<unsigned>(groups), grid_y(tiles));
  if (w.type == DType::BF16)
    half_tiles_kernel<true><<<grid, kHalfWarps * 32, 0, s>>>(a);
  else
    half_tiles_kernel<false><<<grid, kHalfWarps * 32, 0, s>>>(a);
  check_launch("half_tiles_kernel");
}

void launch_f32(const DevMatrix& w, const void* act, const ProductRows& pr, float* y, cudaStream_t s) {
  F32Args a;
  a.w = static_cast<const float*>(w.data);
  a.rows = w.rows;
  a.cols = w.cols;
  a.act = static_cast<const float*>(act);
  a.y = y;
  a.pr = pr;
  const int64_t tiles = pr.ids != nullptr ? pr.n : (pr.n + kF32Tokens - 1) / kF32Tokens;
  const dim3 grid(static_cast<unsigned>((w.rows + kF32Warps - 1) / kF32Warps), grid_y(tiles));
  f32_rows_kernel<<<grid, kF32Warps * 32, 0, s>>>(a);
  check_launch("f32_rows_kernel");
}

}  // namespace lineage::cuda
