// Elementwise writers of activation rows: convert (F32 rows to a format)
// and swiglu (silu(g) * u, then the format). Each warp writes one run of 32
// values of a row, which is exactly one Q8 block when the format is Q8.
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops_common.cuh"

namespace lineage::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kRun = 32 * kWarps;  // values of a row per block

struct ConvertSrc {
  const float* x;
  int64_t cols;
  __device__ float operator()(int64_t t, int64_t i) const { return x[t * cols + i]; }
};

// silu(g) * u as the CPU computes it (nn/ffn.cpp): g / (1 + exp(-g)) * u.
struct SwigluSrc {
  const float* gate_up;
  int64_t ff;
  __device__ float operator()(int64_t t, int64_t i) const {
    const float g = gate_up[t * 2 * ff + i];
    const float u = gate_up[t * 2 * ff + ff + i];
    return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), u);
  }
};

template <class Src>
__global__ void __launch_bounds__(kRun) write_rows_kernel(Src src, int64_t n, int64_t cols, int64_t runs,
                                                          ActFormat f, void* out) {
  const int64_t t = blockIdx.x / runs;
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int64_t c0 = (blockIdx.x % runs) * kRun + warp * 32;
  if (c0 >= cols) return;  // the whole warp: c0 is the same in every lane
  const int64_t i = c0 + lane;
  if (f == ActFormat::Q8) {  // cols % 32 == 0: every lane has a value
    store_q8_block(q8_planes(out, n, cols), cols, t, c0 / 32, lane, src(t, i));
  } else if (i < cols) {
    store_plain(f, out, t * cols + i, src(t, i));
  }
}

template <class Src>
void write_rows(const char* op, Src src, int64_t n, int64_t cols, ActFormat f, void* out, cudaStream_t s) {
  const int64_t runs = (cols + kRun - 1) / kRun;
  write_rows_kernel<<<grid_for(op, n * runs, 1), kRun, 0, s>>>(src, n, cols, runs, f, out);
  check_launch(op);
}

}  // namespace

void convert(const float* x, int64_t n, int64_t cols, ActFormat f, void* out, cudaStream_t s) {
  if (n <= 0) return;
  check_act_cols("convert", f, cols);
  if (f == ActFormat::F32) {
    if (out != x)
      check_cuda(cudaMemcpyAsync(out, x, static_cast<size_t>(n * cols) * sizeof(float), cudaMemcpyDeviceToDevice, s),
                 "convert: cudaMemcpyAsync");
    return;
  }
  write_rows("convert", ConvertSrc{x, cols}, n, cols, f, out, s);
}

void swiglu(const float* gate_up, int64_t n, int64_t ff, ActFormat f, void* out, cudaStream_t s) {
  if (n <= 0) return;
  check_act_cols("swiglu", f, ff);
  write_rows("swiglu", SwigluSrc{gate_up, ff}, n, ff, f, out, s);
}

}  // namespace lineage::cuda
