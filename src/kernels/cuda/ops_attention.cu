// Causal attention over the F16 KV cache, one arithmetic per row whatever
// else is in the call.
//
// A row's visible keys (0..pos, or its sliding window) are cut at fixed
// absolute positions into splits of kSplit keys. Each split gives an
// online-softmax state per query head: m (max score), l (sum of exp(s - m))
// and a (the exp-weighted sum of value rows), computed by split_state()
// below. The states of a row's splits are folded in order, first to last,
// by fold(); the output is a / l. Two launch shapes compute exactly this:
//   - in-block: one block per (row, KV head, head chunk) computes the splits
//     one after another and folds as it goes (prefill, many rows);
//   - split-parallel: blocks compute splits side by side into scratch and a
//     second kernel folds them (a few rows with a long context, where the
//     first shape would leave most of the GPU idle).
// Both call the same split_state() and fold() on the same values in the
// same order, and every multiply-add is written out, so which shape a row
// goes through never changes its bits. The grids depend on n, the shapes and
// n_ctx_max; positions are read on the device and blocks without work exit.
#include <algorithm>

#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops_common.cuh"

namespace lineage::cuda {

namespace {

constexpr int kSplit = 256;        // keys per split, at absolute positions s * kSplit
constexpr int kThreads = 256;      // >= kSplit (a thread per key) and >= kMaxHeadDim (a thread per dim)
constexpr int kWarps = kThreads / 32;
constexpr int kMaxGroup = 8;       // query heads per block (<= kWarps: a warp per head's softmax)
constexpr int kMaxHeadDim = 256;
constexpr int kParallelRows = 32;  // calls of at most this many rows may use the split-parallel shape

static_assert(kThreads >= kSplit && kThreads >= kMaxHeadDim && kMaxGroup <= kWarps);

struct Args {
  const float* qkv;
  QkvShape s;
  int64_t q_dim;   // QkvShape's methods are host code
  const RowMeta* meta;
  int64_t kv_heads_before;
  float scale;
  int window;
  int n_ctx_max;   // > 0: rows with a larger n_ctx are refused (scratch is sized by it)
  int chunks;      // head chunks per KV head
  int slots;       // blocks per (row, KV head, chunk) in the split-parallel shape
  int n_split;     // scratch splits per row and head: ceil(n_ctx_max / kSplit)
  float* out;
  float* scratch;  // [n][n_head][n_split][2 + head_dim]: m, l, a
};

struct Shared {
  float q[kMaxGroup][kMaxHeadDim];
  float p[kMaxGroup][kSplit];  // scores, then exp(score - m)
  float m[kMaxGroup];
  float l[kMaxGroup];
  float run_sum[kMaxGroup][kThreads];  // value sums of the key runs
};

// What one block works on: row t, KV head g, query heads h0 .. h0 + nh - 1.
struct Work {
  int64_t t;
  int g, h0, nh;
  bool ok;  // the row's metadata is usable (else its output is zeros)
  int pos, first;
  const __half* k;  // key head g of the row's cache, layer l: [n_ctx][head_dim]
  const __half* v;
};

__device__ Work work_for(const Args& a, int64_t item) {
  Work w;
  const int c = static_cast<int>(item % a.chunks);
  item /= a.chunks;
  w.g = static_cast<int>(item % a.s.n_head_kv);
  w.t = item / a.s.n_head_kv;
  const int group = a.s.n_head / a.s.n_head_kv;
  w.h0 = w.g * group + c * kMaxGroup;
  w.nh = min(kMaxGroup, group - c * kMaxGroup);
  const RowMeta m = a.meta[w.t];
  w.ok = m.kv != 0 && m.pos >= 0 && m.pos < m.n_ctx && (a.n_ctx_max <= 0 || m.n_ctx <= a.n_ctx_max);
  w.pos = m.pos;
  w.first = a.window > 0 ? max(0, m.pos - a.window + 1) : 0;
  const int64_t d = a.s.head_dim;
  const __half* layer = reinterpret_cast<const __half*>(static_cast<uintptr_t>(m.kv)) + 2 * d * m.n_ctx * a.kv_heads_before;
  w.k = layer + static_cast<int64_t>(w.g) * m.n_ctx * d;
  w.v = layer + static_cast<int64_t>(a.s.n_head_kv) * m.n_ctx * d + static_cast<int64_t>(w.g) * m.n_ctx * d;
  return w;
}

__device__ float* out_row(const Args& a, const Work& w, int h) {
  return a.out + w.t * a.q_dim + static_cast<int64_t>(w.h0 + h) * a.s.head_dim;
}

// Zeros for a row whose metadata cannot be used (never read past a cache).
__device__ void write_zeros(const Args& a, const Work& w) {
  for (int e = threadIdx.x; e < w.nh * a.s.head_dim; e += kThreads) out_row(a, w, 0)[e] = 0.0f;
}

__device__ void load_q(Shared& sh, const Args& a, const Work& w) {
  const int d = a.s.head_dim;
  const float* q = a.qkv + w.t * a.s.row_stride + static_cast<int64_t>(w.h0) * d;
  for (int e = threadIdx.x; e < w.nh * d; e += kThreads) sh.q[e / d][e % d] = q[e];
}

// Keys lo .. lo + len - 1 (one split, len <= kSplit) for the block's heads.
// Leaves m and l in sh and returns in acc[h] the value sum of dimension
// threadIdx.x (threads >= head_dim get nothing). Every sum has a fixed
// order: a score sequentially over the head dimension, l over the lanes'
// strided slices then a butterfly, a over fixed runs of keys (below). The
// caller synchronises before sh is written again.
__device__ void split_state(Shared& sh, const __half* kh, const __half* vh, int d, int nh, int lo, int len,
                            float scale, float (&acc)[kMaxGroup]) {
  const int tid = threadIdx.x;
  if (tid < len) {
    float dot[kMaxGroup];
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) dot[h] = 0.0f;
    const __half* kr = kh + static_cast<int64_t>(lo + tid) * d;
    // 16-byte loads of 8 halves where rows start 16-byte aligned; either way
    // the sum runs over i in order.
    if ((d & 7) == 0 && (reinterpret_cast<uintptr_t>(kh) & 15) == 0) {
      for (int i0 = 0; i0 < d; i0 += 8) {
        const uint4 raw = *reinterpret_cast<const uint4*>(kr + i0);
        const __half2* h2 = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const float2 kf = __half22float2(h2[r]);
#pragma unroll
          for (int h = 0; h < kMaxGroup; ++h)
            if (h < nh) {
              dot[h] = fmaf(sh.q[h][i0 + 2 * r], kf.x, dot[h]);
              dot[h] = fmaf(sh.q[h][i0 + 2 * r + 1], kf.y, dot[h]);
            }
        }
      }
    } else {
      for (int i = 0; i < d; ++i) {
        const float kf = __half2float(kr[i]);
#pragma unroll
        for (int h = 0; h < kMaxGroup; ++h)
          if (h < nh) dot[h] = fmaf(sh.q[h][i], kf, dot[h]);
      }
    }
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h)
      if (h < nh) sh.p[h][tid] = __fmul_rn(dot[h], scale);
  }
  __syncthreads();

  const int warp = tid >> 5, lane = tid & 31;
  if (warp < nh) {  // the same for all lanes of a warp
    float mx = -INFINITY;
    for (int j = lane; j < len; j += 32) mx = fmaxf(mx, sh.p[warp][j]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < len; j += 32) {
      const float e = expf(__fsub_rn(sh.p[warp][j], mx));
      sh.p[warp][j] = e;
      sum = __fadd_rn(sum, e);
    }
    sum = warp_sum(sum);
    if (lane == 0) {
      sh.m[warp] = mx;
      sh.l[warp] = sum;
    }
  }
  __syncthreads();

  // Values: the threads form kThreads / d groups of d; group g sums the
  // g-th contiguous run of keys for every dimension, and the runs' sums are
  // added in group order. Both orders depend on len and d only.
  const int groups = kThreads / d;
  const int run = (len + groups - 1) / groups;
  const int part = tid / d, e = tid % d;
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) acc[h] = 0.0f;
  if (part < groups) {
    const int j0 = part * run, j1 = min(len, j0 + run);
    const __half* vc = vh + static_cast<int64_t>(lo) * d + e;
    for (int j = j0; j < j1; ++j) {
      const float vf = __half2float(vc[static_cast<int64_t>(j) * d]);
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h)
        if (h < nh) acc[h] = fmaf(sh.p[h][j], vf, acc[h]);
    }
  }
  if (groups == 1) return;
  if (part < groups) {
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h)
      if (h < nh) sh.run_sum[h][tid] = acc[h];
  }
  __syncthreads();
  if (tid < d) {
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      if (h >= nh) continue;
      acc[h] = sh.run_sum[h][tid];
      for (int g = 1; g < groups; ++g) acc[h] = __fadd_rn(acc[h], sh.run_sum[h][g * d + tid]);
    }
  } else {
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) acc[h] = 0.0f;
  }
}

// State (M, L, A) followed by a later split's (m2, l2, a2).
__device__ __forceinline__ void fold(float& M, float& L, float& A, float m2, float l2, float a2) {
  const float mn = fmaxf(M, m2);
  const float c1 = expf(__fsub_rn(M, mn));
  const float c2 = expf(__fsub_rn(m2, mn));
  L = fmaf(L, c1, __fmul_rn(l2, c2));
  A = fmaf(A, c1, __fmul_rn(a2, c2));
  M = mn;
}

__device__ __forceinline__ int split_lo(const Work& w, int sp) { return max(w.first, sp * kSplit); }
__device__ __forceinline__ int split_len(const Work& w, int sp) {
  return min(w.pos, sp * kSplit + kSplit - 1) - split_lo(w, sp) + 1;
}

// In-block shape: grid n * n_head_kv * chunks.
__global__ void __launch_bounds__(kThreads) attn_rows_kernel(Args a) {
  __shared__ Shared sh;
  const Work w = work_for(a, blockIdx.x);
  if (!w.ok) {
    write_zeros(a, w);
    return;
  }
  load_q(sh, a, w);
  __syncthreads();
  const int d = a.s.head_dim;
  float M[kMaxGroup], L[kMaxGroup], A[kMaxGroup];
  const int s0 = w.first / kSplit, s1 = w.pos / kSplit;
  for (int sp = s0; sp <= s1; ++sp) {
    float acc[kMaxGroup];
    split_state(sh, w.k, w.v, d, w.nh, split_lo(w, sp), split_len(w, sp), a.scale, acc);
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      if (h >= w.nh) continue;
      if (sp == s0) {
        M[h] = sh.m[h];
        L[h] = sh.l[h];
        A[h] = acc[h];
      } else {
        fold(M[h], L[h], A[h], sh.m[h], sh.l[h], acc[h]);
      }
    }
    __syncthreads();
  }
  if (threadIdx.x < d) {
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h)
      if (h < w.nh) out_row(a, w, h)[threadIdx.x] = __fdiv_rn(A[h], L[h]);
  }
}

__device__ float* state_at(const Args& a, const Work& w, int h, int sp) {
  const int64_t d = a.s.head_dim;
  return a.scratch + ((w.t * a.s.n_head + w.h0 + h) * a.n_split + sp) * (2 + d);
}

// Split-parallel shape, first kernel: grid n * n_head_kv * chunks * slots;
// slot b computes splits s0 + b, s0 + b + slots, ... into scratch.
__global__ void __launch_bounds__(kThreads) attn_splits_kernel(Args a) {
  __shared__ Shared sh;
  const int slot = static_cast<int>(blockIdx.x % a.slots);
  const Work w = work_for(a, blockIdx.x / a.slots);
  const int s0 = w.first / kSplit, s1 = w.pos / kSplit;
  if (!w.ok || s0 + slot > s1) return;
  load_q(sh, a, w);
  __syncthreads();
  const int d = a.s.head_dim;
  for (int sp = s0 + slot; sp <= s1; sp += a.slots) {
    float acc[kMaxGroup];
    split_state(sh, w.k, w.v, d, w.nh, split_lo(w, sp), split_len(w, sp), a.scale, acc);
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      if (h >= w.nh) continue;
      float* st = state_at(a, w, h, sp);
      if (threadIdx.x == 0) {
        st[0] = sh.m[h];
        st[1] = sh.l[h];
      }
      if (threadIdx.x < d) st[2 + threadIdx.x] = acc[h];
    }
    __syncthreads();
  }
}

// Split-parallel shape, second kernel: grid n * n_head_kv * chunks; the
// fold of attn_rows_kernel over the stored states.
__global__ void __launch_bounds__(kThreads) attn_fold_kernel(Args a) {
  const Work w = work_for(a, blockIdx.x);
  if (!w.ok) {
    write_zeros(a, w);
    return;
  }
  const int d = a.s.head_dim;
  const int e = threadIdx.x;
  if (e >= d) return;
  const int s0 = w.first / kSplit, s1 = w.pos / kSplit;
  for (int h = 0; h < w.nh; ++h) {
    const float* st = state_at(a, w, h, s0);
    float M = st[0], L = st[1], A = st[2 + e];
    for (int sp = s0 + 1; sp <= s1; ++sp) {
      st = state_at(a, w, h, sp);
      fold(M, L, A, st[0], st[1], st[2 + e]);
    }
    out_row(a, w, h)[e] = __fdiv_rn(A, L);
  }
}

int splits_for(int n_ctx) { return (std::max(n_ctx, 1) + kSplit - 1) / kSplit; }

void check_shape(const char* op, const QkvShape& s) {
  if (s.n_head < 1 || s.n_head_kv < 1 || s.n_head % s.n_head_kv != 0)
    fail(op, ": ", s.n_head, " query heads do not share ", s.n_head_kv, " KV heads evenly");
  if (s.head_dim < 1 || s.head_dim > kMaxHeadDim)
    fail(op, ": head size ", s.head_dim, " (the GPU kernels take 1 to ", kMaxHeadDim, ")");
  if (s.row_stride < s.q_dim() + 2 * s.kv_dim())
    fail(op, ": rows of ", s.row_stride, " values cannot hold q, k and v (", s.q_dim() + 2 * s.kv_dim(), ")");
}

}  // namespace

size_t attention_scratch_bytes(const QkvShape& shape, int64_t n, int n_ctx) {
  const int64_t rows = std::min<int64_t>(n, kParallelRows);
  if (rows <= 0) return 0;
  return static_cast<size_t>(rows) * static_cast<size_t>(shape.n_head) * static_cast<size_t>(splits_for(n_ctx)) *
         static_cast<size_t>(2 + shape.head_dim) * sizeof(float);
}

void attention(const float* qkv, const QkvShape& shape, const RowMeta* meta, int64_t n, const KvLayer& l,
               const AttentionParams& p, float* out, void* scratch, int n_sm, cudaStream_t s) {
  if (n <= 0) return;
  check_shape("attention", shape);
  Args a;
  a.qkv = qkv;
  a.s = shape;
  a.q_dim = shape.q_dim();
  a.meta = meta;
  a.kv_heads_before = l.kv_heads_before;
  a.scale = p.scale;
  a.window = p.sliding_window;
  a.n_ctx_max = p.n_ctx_max;
  a.chunks = (shape.n_head / shape.n_head_kv + kMaxGroup - 1) / kMaxGroup;
  a.out = out;
  a.scratch = static_cast<float*>(scratch);
  a.n_split = splits_for(p.n_ctx_max);
  const int64_t items = n * shape.n_head_kv * a.chunks;
  // Enough blocks to give every multiprocessor four, but never more slots
  // than a row can have splits.
  const int64_t want = (4 * static_cast<int64_t>(std::max(n_sm, 1)) + items - 1) / items;
  a.slots = static_cast<int>(std::min<int64_t>(want, a.n_split));
  const bool parallel = n <= kParallelRows && p.n_ctx_max > 0 && a.slots > 1 && scratch != nullptr;
  if (!parallel) {
    a.slots = 1;
    attn_rows_kernel<<<grid_for("attention", items, 1), kThreads, 0, s>>>(a);
    check_launch("attention");
    return;
  }
  attn_splits_kernel<<<grid_for("attention", items * a.slots, 1), kThreads, 0, s>>>(a);
  check_launch("attention (splits)");
  attn_fold_kernel<<<grid_for("attention", items, 1), kThreads, 0, s>>>(a);
  check_launch("attention (fold)");
}

}  // namespace lineage::cuda
