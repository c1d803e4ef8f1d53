// RoPE of arch llama and the store of k and v into the KV cache, one block
// per row. The arithmetic is the reference's (kernels/device_ref.cpp, from
// nn/rope.cpp): the angle and its cosine and sine in double, rounded to
// float, then separate float multiplies and adds (no contraction: the
// library is built with --fmad=false and the operations are spelled out).
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops_common.cuh"

namespace lineage::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kMaxPairs = 512;  // rope_dim up to 1024

// (QkvShape's methods are host code: the kernel takes q_dim and kv_dim.)
__global__ void __launch_bounds__(kThreads) rope_store_kernel(float* qkv, QkvShape s, int q_dim, int kv_dim,
                                                              const RowMeta* meta, int rope_dim,
                                                              const double* inv_freq, int64_t kv_heads_before) {
  const int64_t t = blockIdx.x;
  const RowMeta m = meta[t];
  float* row = qkv + t * s.row_stride;
  const int half = rope_dim / 2;
  // The angles depend on the pair only: one cosine and sine per pair for
  // all heads of the row.
  __shared__ float cos_t[kMaxPairs], sin_t[kMaxPairs];
  for (int i = threadIdx.x; i < half; i += kThreads) {
    double sd, cd;
    sincos(__dmul_rn(static_cast<double>(m.pos), inv_freq[i]), &sd, &cd);
    cos_t[i] = static_cast<float>(cd);
    sin_t[i] = static_cast<float>(sd);
  }
  __syncthreads();
  const int pairs = (s.n_head + s.n_head_kv) * half;
  for (int p = threadIdx.x; p < pairs; p += kThreads) {
    const int h = p / half, i = p % half;
    float* v = row + static_cast<int64_t>(h) * s.head_dim + 2 * i;
    const float c = cos_t[i], sn = sin_t[i];
    const float x0 = v[0], x1 = v[1];
    v[0] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, sn));
    v[1] = __fadd_rn(__fmul_rn(x0, sn), __fmul_rn(x1, c));
  }
  // A row outside its cache would write past it: it is rotated, not stored.
  if (m.kv == 0 || m.pos < 0 || m.pos >= m.n_ctx) return;
  __syncthreads();  // the rotated k heads are read below by other threads
  const int d = s.head_dim;
  __half* kc = reinterpret_cast<__half*>(static_cast<uintptr_t>(m.kv)) + 2 * static_cast<int64_t>(d) * m.n_ctx * kv_heads_before;
  __half* vc = kc + static_cast<int64_t>(s.n_head_kv) * m.n_ctx * d;
  const float* k = row + q_dim;
  const float* vv = k + kv_dim;
  for (int e = threadIdx.x; e < kv_dim; e += kThreads) {
    const int g = e / d, i = e % d;
    const int64_t at = (static_cast<int64_t>(g) * m.n_ctx + m.pos) * d + i;
    kc[at] = __float2half_rn(k[e]);
    vc[at] = __float2half_rn(vv[e]);
  }
}

}  // namespace

void rope_store(float* qkv, const QkvShape& shape, const RowMeta* meta, int64_t n, const RopeParams& rope,
                const KvLayer& l, cudaStream_t s) {
  if (n <= 0) return;
  if (shape.n_head < 1 || shape.n_head_kv < 1 || shape.head_dim < 1 ||
      shape.row_stride < shape.q_dim() + 2 * shape.kv_dim())
    fail("rope_store: bad shape (", shape.n_head, " heads, ", shape.n_head_kv, " KV heads of ", shape.head_dim,
         ", rows of ", shape.row_stride, ")");
  if (rope.rope_dim < 0 || rope.rope_dim % 2 != 0 || rope.rope_dim > shape.head_dim || rope.rope_dim > 2 * kMaxPairs)
    fail("rope_store: rope_dim ", rope.rope_dim, " must be even and at most head_dim ", shape.head_dim, " and ",
         2 * kMaxPairs);
  if (rope.rope_dim > 0 && rope.inv_freq == nullptr) fail("rope_store: no frequencies");
  rope_store_kernel<<<grid_for("rope_store", n, 1), kThreads, 0, s>>>(qkv, shape, shape.q_dim(), shape.kv_dim(), meta,
                                                                      rope.rope_dim, rope.inv_freq, l.kv_heads_before);
  check_launch("rope_store");
}

}  // namespace lineage::cuda
