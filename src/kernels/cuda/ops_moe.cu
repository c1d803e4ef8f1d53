// Mixture-of-experts routing and combination, in the CPU's arithmetic
// (nn/moe.cpp): a softmax over the router logits, the k most probable
// experts (largest first, the lower index on a tie), weights renormalised;
// then the weighted sum of the experts' outputs in the order chosen.
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops_common.cuh"

namespace lineage::cuda {

namespace {

constexpr int kRouteThreads = 64;
constexpr int kCombineThreads = 256;

// One thread per row. A probability is recomputed where it is needed, from
// the same operations each time, so no per-expert storage is needed.
__global__ void __launch_bounds__(kRouteThreads) moe_route_kernel(const float* logits, int64_t n, int n_expert, int k,
                                                                  int32_t* ids, float* weights) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * kRouteThreads + threadIdx.x;
  if (t >= n) return;
  const float* l = logits + t * n_expert;
  float mx = l[0];
  for (int e = 1; e < n_expert; ++e)
    if (l[e] > mx) mx = l[e];
  float sum = 0;
  for (int e = 0; e < n_expert; ++e) sum = __fadd_rn(sum, expf(__fsub_rn(l[e], mx)));
  auto prob = [&](int e) { return __fdiv_rn(expf(__fsub_rn(l[e], mx)), sum); };

  int32_t* id = ids + t * k;
  float* wt = weights + t * k;
  float wsum = 0;
  for (int j = 0; j < k; ++j) {
    int best = -1;
    float best_p = 0;
    for (int e = 0; e < n_expert; ++e) {
      bool taken = false;
      for (int i = 0; i < j; ++i) taken = taken || id[i] == e;
      if (taken) continue;
      const float p = prob(e);
      if (best < 0 || p > best_p) {
        best = e;
        best_p = p;
      }
    }
    id[j] = best;
    wt[j] = best_p;
    wsum = __fadd_rn(wsum, best_p);
  }
  for (int j = 0; j < k; ++j) wt[j] = __fdiv_rn(wt[j], wsum);
}

__global__ void __launch_bounds__(kCombineThreads) moe_combine_kernel(const float* y, const float* weights, int64_t n,
                                                                      int k, int64_t cols, float* x) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kCombineThreads + threadIdx.x;
  if (idx >= n * cols) return;
  const int64_t t = idx / cols, i = idx % cols;
  float acc = x[idx];
  for (int j = 0; j < k; ++j) {
    const int64_t p = t * k + j;
    acc = __fadd_rn(acc, __fmul_rn(weights[p], y[p * cols + i]));
  }
  x[idx] = acc;
}

}  // namespace

void moe_route(const float* logits, int64_t n, int n_expert, int k, int32_t* ids, float* weights, cudaStream_t s) {
  if (n <= 0) return;
  if (n_expert < 1 || k < 1 || k > n_expert) fail("moe_route: choosing ", k, " of ", n_expert, " experts");
  moe_route_kernel<<<grid_for("moe_route", n, kRouteThreads), kRouteThreads, 0, s>>>(logits, n, n_expert, k, ids,
                                                                                      weights);
  check_launch("moe_route");
}

void moe_combine(const float* y, const float* weights, int64_t n, int k, int64_t cols, float* x, cudaStream_t s) {
  if (n <= 0 || cols <= 0) return;
  if (k < 1) fail("moe_combine: ", k, " experts per row");
  moe_combine_kernel<<<grid_for("moe_combine", n * cols, kCombineThreads), kCombineThreads, 0, s>>>(y, weights, n, k,
                                                                                                    cols, x);
  check_launch("moe_combine");
}

}  // namespace lineage::cuda
