// RMSNorm fused with the activation format: one block per row. The sum of
// squares is taken in double like the CPU (nn/rmsnorm.cpp): each thread
// sums a strided slice in order, then a fixed tree over the threads, so the
// order depends on cols only. Squares of floats are exact in double, which
// leaves the scale equal to the CPU's in all but the rarest rows.
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops_common.cuh"

namespace lineage::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) rmsnorm_kernel(const float* x, const float* w, int64_t n, int64_t cols,
                                                           float eps, ActFormat f, void* out) {
  __shared__ double part[kThreads];
  const int64_t t = blockIdx.x;
  const int tid = static_cast<int>(threadIdx.x);
  const float* xr = x + t * cols;
  double ss = 0;
  for (int64_t i = tid; i < cols; i += kThreads) {
    const double v = xr[i];
    ss = __dadd_rn(ss, __dmul_rn(v, v));
  }
  part[tid] = ss;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half >>= 1) {
    if (tid < half) part[tid] = __dadd_rn(part[tid], part[tid + half]);
    __syncthreads();
  }
  const double mean = part[0] / static_cast<double>(cols);
  const float scale = static_cast<float>(1.0 / sqrt(mean + static_cast<double>(eps)));

  // Values go out a warp-wide run at a time, one Q8 block per run.
  const int warp = tid >> 5, lane = tid & 31;
  const Q8Planes q8 = q8_planes(out, n, cols);
  for (int64_t c0 = static_cast<int64_t>(warp) * 32; c0 < cols; c0 += kThreads) {
    const int64_t i = c0 + lane;
    const float y = i < cols ? __fmul_rn(__fmul_rn(xr[i], scale), w[i]) : 0.0f;
    if (f == ActFormat::Q8)
      store_q8_block(q8, cols, t, c0 / 32, lane, y);
    else if (i < cols)
      store_plain(f, out, t * cols + i, y);
  }
}

}  // namespace

void rmsnorm(const float* x, const float* w, int64_t n, int64_t cols, float eps, ActFormat f, void* out,
             cudaStream_t s) {
  if (n <= 0) return;
  check_act_cols("rmsnorm", f, cols);
  rmsnorm_kernel<<<grid_for("rmsnorm", n, 1), kThreads, 0, s>>>(x, w, n, cols, eps, f, out);
  check_launch("rmsnorm");
}

}  // namespace lineage::cuda
