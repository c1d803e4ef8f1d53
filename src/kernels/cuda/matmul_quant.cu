// Products of quantized weights (Q4_0, Q8_0, Q4_K, Q6_K) with Q8
// activation rows.
//
// Two kernels compute them: a warp per weight row for a few tokens or for
// (token, expert) pairs (lane s sums segment s with dp4a; the row is
// streamed once for all its tokens), and a 64 x 64 tile kernel on the int8
// tensor cores for batches. Both walk each segment's blocks in order with
// the per-block float steps of matmul_blocks.cuh from an exact integer
// block sum, and add the segment partials in segment order, so a row's
// result is bitwise the same in either kernel, whatever the batch.
#include <type_traits>

#include "kernels/cuda/act_layout.h"
#include "kernels/cuda/matmul_blocks.cuh"
#include "kernels/cuda/matmul_kernels.cuh"
#include "kernels/cuda/matmul_layout.h"

namespace lineage::cuda {
namespace {

struct QuantArgs {
  const uint8_t* wq;  // values plane
  const uint8_t* wm;  // meta plane
  int64_t rows;       // per stacked matrix
  int64_t cols;
  QuantGeom g;
  const int8_t* aq;
  const float* ad;
  const int32_t* as;
  float* y;
  ProductRows pr;
};

__device__ __forceinline__ float quiet_nan() { return __int_as_float(0x7fc00000); }

// ---- warp per row ----------------------------------------------------------

template <class T>
struct RawBlock {
  uint32_t q[T::kQuant / 4];
  typename T::Meta m;
};

template <class T>
__device__ __forceinline__ void load_block(const QuantArgs& a, int64_t at, RawBlock<T>& r) {
  const uint4* p = reinterpret_cast<const uint4*>(a.wq + at * T::kQuant);
#pragma unroll
  for (int i = 0; i < T::kQuant / 16; ++i) {
    const uint4 v = __ldg(p + i);
    r.q[4 * i] = v.x;
    r.q[4 * i + 1] = v.y;
    r.q[4 * i + 2] = v.z;
    r.q[4 * i + 3] = v.w;
  }
  r.m = T::meta(a.wm + at * T::kMeta);
}

// Activation block b of row `arow`: 32 int8 values as 8 words, scale, sum.
__device__ __forceinline__ void load_act(const QuantArgs& a, int64_t arow, int b, int* x, float& dx, int& sx) {
  const int4* p = reinterpret_cast<const int4*>(a.aq + arow * a.cols + static_cast<int64_t>(b) * 32);
  const int4 v0 = __ldg(p), v1 = __ldg(p + 1);
  x[0] = v0.x, x[1] = v0.y, x[2] = v0.z, x[3] = v0.w;
  x[4] = v1.x, x[5] = v1.y, x[6] = v1.z, x[7] = v1.w;
  const int64_t at = arow * a.g.nb + b;
  dx = __ldg(a.ad + at);
  sx = __ldg(a.as + at);
}

// Blocks a lane keeps in flight before using them.
constexpr int kRowBatch = 4;
constexpr int kRowWarps = 4;

// Grid: x covers rows (kRowWarps per block), y walks tiles of NT tokens (or
// single pairs for experts).
template <class T, int NT>
__global__ void __launch_bounds__(kRowWarps * 32) quant_rows_kernel(QuantArgs a) {
  const int lane = threadIdx.x & 31;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowWarps + (threadIdx.x >> 5);
  if (r >= a.rows) return;
  const QuantGeom g = a.g;
  const bool experts = a.pr.ids != nullptr;
  const int64_t n_tiles = experts ? a.pr.n : (a.pr.n + NT - 1) / NT;
  for (int64_t tile = blockIdx.y; tile < n_tiles; tile += gridDim.y) {
    int64_t wrow = r, t0 = tile * NT, arow0 = tile * NT;
    int nt;
    if (experts) {
      const int e = a.pr.ids[tile];
      if (e < 0 || e >= a.pr.n_stack) {
        if (lane == 0) a.y[tile * a.pr.ldy + r] = quiet_nan();
        continue;
      }
      wrow = static_cast<int64_t>(e) * a.rows + r;
      t0 = tile;
      arow0 = a.pr.per_pair ? tile : tile / a.pr.k;
      nt = 1;
    } else {
      nt = static_cast<int>(a.pr.n - t0 < NT ? a.pr.n - t0 : NT);
    }
    float acc[NT];
#pragma unroll
    for (int j = 0; j < NT; ++j) acc[j] = 0.0f;
    const int s = lane;
    if (s < g.S) {
      const int64_t base = wrow * g.slots() + s;
      for (int i0 = 0; i0 < g.L; i0 += kRowBatch) {
        RawBlock<T> raw[kRowBatch];
#pragma unroll
        for (int u = 0; u < kRowBatch; ++u) {
          const int i = i0 + u;
          if (i < g.L && s * g.L + i < g.nb) load_block<T>(a, base + static_cast<int64_t>(i) * g.S, raw[u]);
        }
#pragma unroll
        for (int u = 0; u < kRowBatch; ++u) {
          const int i = i0 + u;
          const int b = s * g.L + i;
          if (i >= g.L || b >= g.nb) continue;
#pragma unroll
          for (int j = 0; j < NT; ++j) {
            if (j >= nt) continue;
            int x[8], sx, lo, hi;
            float dx;
            load_act(a, arow0 + j, b, x, dx, sx);
            block_isum<T>(raw[u].q, raw[u].m, x, lo, hi);
            acc[j] = T::step(acc[j], raw[u].m, lo, hi, dx, sx);
          }
        }
      }
    }
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      if (j >= nt) continue;  // uniform over the warp
      float total = 0.0f;
      for (int q = 0; q < g.S; ++q) total = merge_partial(total, __shfl_sync(0xffffffffu, acc[j], q), q == 0);
      if (lane == 0) store_output(a.y + (t0 + j) * a.pr.ldy + r, total, a.pr.accumulate);
    }
  }
}

// ---- tensor-core tiles -----------------------------------------------------

constexpr int kBM = 64;   // weight rows per tile
constexpr int kBN = 64;   // tokens per tile
constexpr int kKB = 4;    // 32-value blocks per pipeline stage
constexpr int kTileThreads = 128;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0) : "memory");
}

__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(gmem), "r"(valid ? 4 : 0) : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// d = a (16x32, row) * b (32x8, col) in int32 (d starts at zero).
__device__ __forceinline__ void mma_k32(int* d, const uint32_t* a, const uint32_t* b) {
  d[0] = d[1] = d[2] = d[3] = 0;
  asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// d = a (16x16, row) * b (16x8, col) in int32 (d starts at zero).
__device__ __forceinline__ void mma_k16(int* d, uint32_t a0, uint32_t a1, uint32_t b) {
  d[0] = d[1] = d[2] = d[3] = 0;
  asm("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a0), "r"(a1), "r"(b));
}

template <class T>
struct TileSmem {
  static constexpr int kWStride = kKB * T::kQuant + 16;  // bytes per weight row (padding spreads banks)
  static constexpr int kAStride = kKB * 32 + 16;         // bytes per token row
  static constexpr int kMStride = kKB * T::kMeta;        // bytes per weight row of meta
  static constexpr int kMetaUnits = kBM * kKB * T::kMeta / 2 / kTileThreads;  // 16-bit loads per thread
  alignas(16) uint8_t w[2][kBM * kWStride];
  alignas(16) uint8_t act[2][kBN * kAStride];
  alignas(16) float d[2][kBN * kKB];
  alignas(16) int s[2][kBN * kKB];
  alignas(16) uint8_t meta[2][kBM * kMStride];
};

// Starts the asynchronous copies of stage `kb` (blocks kb*kKB ...) into buffer `buf`.
template <class T>
__device__ __forceinline__ void issue_stage(TileSmem<T>& sm, int buf, const QuantArgs& a, int64_t r0, int64_t t0,
                                            int kb) {
  using S = TileSmem<T>;
  const int tid = threadIdx.x;
  const int b0 = kb * kKB;
  constexpr int kWPieces = T::kQuant / 16;
  for (int c = tid; c < kBM * kKB * kWPieces; c += kTileThreads) {
    const int row = c / (kKB * kWPieces);
    const int kk = (c / kWPieces) % kKB;
    const int part = c % kWPieces;
    const int64_t R = r0 + row;
    const int b = b0 + kk;
    const bool ok = R < a.rows && b < a.g.nb;
    const uint8_t* src = ok ? a.wq + (R * a.g.slots() + a.g.slot(b)) * T::kQuant + part * 16 : a.wq;
    cp_async16(&sm.w[buf][row * S::kWStride + kk * T::kQuant + part * 16], src, ok);
  }
  for (int c = tid; c < kBN * kKB * 2; c += kTileThreads) {
    const int tok = c / (kKB * 2);
    const int kk = (c / 2) % kKB;
    const int part = c % 2;
    const int64_t t = t0 + tok;
    const int b = b0 + kk;
    const bool ok = t < a.pr.n && b < a.g.nb;
    const int8_t* src = ok ? a.aq + t * a.cols + static_cast<int64_t>(b) * 32 + part * 16 : a.aq;
    cp_async16(&sm.act[buf][tok * S::kAStride + kk * 32 + part * 16], src, ok);
  }
  for (int c = tid; c < kBN * kKB; c += kTileThreads) {
    const int tok = c / kKB;
    const int kk = c % kKB;
    const int64_t t = t0 + tok;
    const int b = b0 + kk;
    const bool ok = t < a.pr.n && b < a.g.nb;
    const int64_t at = ok ? t * a.g.nb + b : 0;
    cp_async4(&sm.d[buf][c], a.ad + at, ok);
    cp_async4(&sm.s[buf][c], a.as + at, ok);
  }
}

// The meta plane goes through registers (its 2-byte pieces are too small
// for cp.async): loaded before a stage's math, stored after it.
template <class T>
__device__ __forceinline__ void load_meta(const QuantArgs& a, int64_t r0, int kb, uint16_t* regs) {
  constexpr int kUnitsPerRow = kKB * T::kMeta / 2;
  constexpr int kUnitsPerBlock = T::kMeta / 2;
#pragma unroll
  for (int j = 0; j < TileSmem<T>::kMetaUnits; ++j) {
    const int u = threadIdx.x + j * kTileThreads;
    const int row = u / kUnitsPerRow;
    const int kk = (u % kUnitsPerRow) / kUnitsPerBlock;
    const int part = u % kUnitsPerBlock;
    const int64_t R = r0 + row;
    const int b = kb * kKB + kk;
    regs[j] = 0;
    if (R < a.rows && b < a.g.nb)
      regs[j] = __ldg(reinterpret_cast<const uint16_t*>(a.wm + (R * a.g.slots() + a.g.slot(b)) * T::kMeta) + part);
  }
}

template <class T>
__device__ __forceinline__ void store_meta(TileSmem<T>& sm, int buf, const uint16_t* regs) {
  constexpr int kUnitsPerRow = kKB * T::kMeta / 2;
  uint16_t* m = reinterpret_cast<uint16_t*>(sm.meta[buf]);
#pragma unroll
  for (int j = 0; j < TileSmem<T>::kMetaUnits; ++j) {
    const int u = threadIdx.x + j * kTileThreads;
    // Same order as load_meta: row-major units, kUnitsPerRow per row.
    m[(u / kUnitsPerRow) * (TileSmem<T>::kMStride / 2) + u % kUnitsPerRow] = regs[j];
  }
}

// Operand A of one 16-row slice for block kk: rows `row` and `row + 8`.
template <class T>
__device__ __forceinline__ void load_a(const uint8_t* w, int row, int kk, int tq, const typename T::Meta& m0,
                                       const typename T::Meta& m8, uint32_t* af) {
  constexpr int kS = TileSmem<T>::kWStride;
  if constexpr (T::kQuant == 32) {
    const uint8_t* p0 = w + row * kS + kk * 32 + tq * 4;
    const uint8_t* p8 = p0 + 8 * kS;
    af[0] = *reinterpret_cast<const uint32_t*>(p0);
    af[1] = *reinterpret_cast<const uint32_t*>(p8);
    af[2] = *reinterpret_cast<const uint32_t*>(p0 + 16);
    af[3] = *reinterpret_cast<const uint32_t*>(p8 + 16);
  } else {
    const uint8_t* p0 = w + row * kS + kk * 16 + tq * 4;
    const uint32_t w0 = *reinterpret_cast<const uint32_t*>(p0);
    const uint32_t w8 = *reinterpret_cast<const uint32_t*>(p0 + 8 * kS);
    if constexpr (std::is_same_v<T, Q6K>) {
      q6_words(w0, m0.hi0, m0.hi1, tq, af[0], af[2]);
      q6_words(w8, m8.hi0, m8.hi1, tq, af[1], af[3]);
    } else {
      af[0] = w0 & kLowNibbles;
      af[1] = w8 & kLowNibbles;
      af[2] = (w0 >> 4) & kLowNibbles;
      af[3] = (w8 >> 4) & kLowNibbles;
    }
  }
}

// Grid: x covers 64-row tiles, y walks 64-token tiles. Warp w computes rows
// (w / 2) * 32 .. +32 and tokens (w % 2) * 32 .. +32 of the tile.
template <class T>
__global__ void __launch_bounds__(kTileThreads) quant_tiles_kernel(QuantArgs a) {
  using S = TileSmem<T>;
  __shared__ S sm;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int gq = lane >> 2, tq = lane & 3;
  const int wr = (warp >> 1) * 32, wt = (warp & 1) * 32;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int nb = a.g.nb, L = a.g.L;
  const int n_stages = (nb + kKB - 1) / kKB;
  const int64_t n_tiles = (a.pr.n + kBN - 1) / kBN;

  for (int64_t tile = blockIdx.y; tile < n_tiles; tile += gridDim.y) {
    const int64_t t0 = tile * kBN;
    float acc[2][4][4], tot[2][4][4];
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mi][ni][e] = tot[mi][ni][e] = 0.0f;

    {
      uint16_t regs[S::kMetaUnits];
      issue_stage<T>(sm, 0, a, r0, t0, 0);
      cp_async_commit();
      load_meta<T>(a, r0, 0, regs);
      store_meta<T>(sm, 0, regs);
    }
    for (int kb = 0; kb < n_stages; ++kb) {
      const int buf = kb & 1;
      const bool more = kb + 1 < n_stages;
      uint16_t regs[S::kMetaUnits];
      if (more) {
        issue_stage<T>(sm, buf ^ 1, a, r0, t0, kb + 1);
        load_meta<T>(a, r0, kb + 1, regs);
      }
      cp_async_commit();
      cp_async_wait<1>();
      __syncthreads();

      for (int kk = 0; kk < kKB; ++kk) {
        const int b = kb * kKB + kk;
        if (b >= nb) break;
        typename T::Meta rm[2][2];
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int h = 0; h < 2; ++h)
            rm[mi][h] = T::meta(&sm.meta[buf][(wr + mi * 16 + h * 8 + gq) * S::kMStride + kk * T::kMeta]);
        float dx[4][2];
        int sx[4][2];
        uint32_t bf[4][2];
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int tok = wt + ni * 8 + 2 * tq + e;
            dx[ni][e] = sm.d[buf][tok * kKB + kk];
            sx[ni][e] = sm.s[buf][tok * kKB + kk];
          }
          const uint8_t* p = &sm.act[buf][(wt + ni * 8 + gq) * S::kAStride + kk * 32 + tq * 4];
          bf[ni][0] = *reinterpret_cast<const uint32_t*>(p);
          bf[ni][1] = *reinterpret_cast<const uint32_t*>(p + 16);
        }
#pragma unroll
        for (int mi = 0; mi < 2; ++mi) {
          uint32_t af[4];
          load_a<T>(sm.w[buf], wr + mi * 16 + gq, kk, tq, rm[mi][0], rm[mi][1], af);
#pragma unroll
          for (int ni = 0; ni < 4; ++ni) {
            int c[4], c_hi[4] = {0, 0, 0, 0};
            if constexpr (std::is_same_v<T, Q6K>) {
              mma_k16(c, af[0], af[1], bf[ni][0]);
              mma_k16(c_hi, af[2], af[3], bf[ni][1]);
            } else {
              mma_k32(c, af, bf[ni]);
            }
#pragma unroll
            for (int e = 0; e < 4; ++e)
              acc[mi][ni][e] =
                  T::step(acc[mi][ni][e], rm[mi][e >> 1], c[e], c_hi[e], dx[ni][e & 1], sx[ni][e & 1]);
          }
        }
        if ((b + 1) % L == 0 || b + 1 == nb) {  // the last block of a segment
#pragma unroll
          for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int ni = 0; ni < 4; ++ni)
#pragma unroll
              for (int e = 0; e < 4; ++e) {
                tot[mi][ni][e] = merge_partial(tot[mi][ni][e], acc[mi][ni][e], b < L);
                acc[mi][ni][e] = 0.0f;
              }
        }
      }
      if (more) store_meta<T>(sm, buf ^ 1, regs);
      __syncthreads();
    }
    cp_async_wait<0>();

#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t row = r0 + wr + mi * 16 + (e >> 1) * 8 + gq;
          const int64_t tok = t0 + wt + ni * 8 + 2 * tq + (e & 1);
          if (row < a.rows && tok < a.pr.n) store_output(a.y + tok * a.pr.ldy + row, tot[mi][ni][e], a.pr.accumulate);
        }
  }
}

// Tokens per warp-per-row launch; more go to the tile kernel.
constexpr int64_t kRowsMaxTokens = 8;

template <class T, int NT>
void launch_rows(const QuantArgs& a, cudaStream_t s) {
  const int64_t tiles = a.pr.ids ? a.pr.n : (a.pr.n + NT - 1) / NT;
  const dim3 grid(static_cast<unsigned>((a.rows + kRowWarps - 1) / kRowWarps),
                  static_cast<unsigned>(tiles < 65535 ? tiles : 65535));
  quant_rows_kernel<T, NT><<<grid, kRowWarps * 32, 0, s>>>(a);
  check_launch("quant_rows_kernel");
}

template <class T>
void launch_type(const QuantArgs& a, cudaStream_t s) {
  if (a.pr.ids != nullptr || a.pr.n == 1) return launch_rows<T, 1>(a, s);
  if (a.pr.n == 2) return launch_rows<T, 2>(a, s);
  if (a.pr.n <= 4) return launch_rows<T, 4>(a, s);
  if (a.pr.n <= kRowsMaxTokens) return launch_rows<T, 8>(a, s);
  const int64_t tiles = (a.pr.n + kBN - 1) / kBN;
  const dim3 grid(static_cast<unsigned>((a.rows + kBM - 1) / kBM), static_cast<unsigned>(tiles < 65535 ? tiles : 65535));
  quant_tiles_kernel<T><<<grid, kTileThreads, 0, s>>>(a);
  check_launch("quant_tiles_kernel");
}

}  // namespace

void launch_quant(const DevMatrix& w, const void* act, const ProductRows& pr, float* y, cudaStream_t s) {
  QuantArgs a;
  a.g = quant_geom(w.cols);
  const int64_t all_rows = w.rows * w.n_stack;
  const size_t qbytes = w.type == DType::Q8_0 ? 32 : 16;
  a.wq = static_cast<const uint8_t*>(w.data);
  a.wm = a.wq + align256(static_cast<size_t>(all_rows) * static_cast<size_t>(a.g.slots()) * qbytes);
  a.rows = w.rows;
  a.cols = w.cols;
  const Q8Planes p = q8_planes(const_cast<void*>(act), pr.act_rows, w.cols);
  a.aq = p.q;
  a.ad = p.d;
  a.as = p.s;
  a.y = y;
  a.pr = pr;
  switch (w.type) {
    case DType::Q4_0: return launch_type<Q40>(a, s);
    case DType::Q8_0: return launch_type<Q80>(a, s);
    case DType::Q4_K: return launch_type<Q4K>(a, s);
    case DType::Q6_K: return launch_type<Q6K>(a, s);
    default: break;
  }
}

}  // namespace lineage::cuda
