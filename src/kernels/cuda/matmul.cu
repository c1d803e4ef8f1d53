// The entry points of cuda_matmul.h: argument checks, dispatch by weight
// type, and embedding rows dequantized out of the device layout. Nothing
// here allocates, copies synchronously or reads device memory, so every
// call can be recorded into a CUDA graph.
#include "core/error.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/cuda/matmul_blocks.cuh"
#include "kernels/cuda/matmul_kernels.cuh"
#include "kernels/cuda/matmul_layout.h"

namespace lineage::cuda {

void check_launch(const char* kernel) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail("CUDA kernel ", kernel, " failed to launch: ", cudaGetErrorString(e));
}

namespace {

void check_matrix(const DevMatrix& w, const char* what) {
  if (!matmul_supports(w.type)) fail("CUDA ", what, ": weight type ", dtype_name(w.type), " is not supported");
  if (w.data == nullptr || w.rows <= 0 || w.cols <= 0 || w.n_stack < 1)
    fail("CUDA ", what, ": empty or unset ", dtype_name(w.type), " matrix");
  if (w.cols % dtype_block_size(w.type) != 0)
    fail("CUDA ", what, ": ", dtype_name(w.type), " rows of ", w.cols, " values are not whole blocks");
  if (w.bytes != 0 && w.bytes < packed_bytes(w.type, w.rows * w.n_stack, w.cols))
    fail("CUDA ", what, ": matrix holds ", w.bytes, " bytes, its layout needs ",
         packed_bytes(w.type, w.rows * w.n_stack, w.cols));
}

void dispatch(const DevMatrix& w, const void* act, const ProductRows& pr, float* y, cudaStream_t s) {
  if (act == nullptr || y == nullptr) fail("CUDA matmul: null activation or output");
  switch (w.type) {
    case DType::F32: return launch_f32(w, act, pr, y, s);
    case DType::F16:
    case DType::BF16: return launch_half(w, act, pr, y, s);
    default: return launch_quant(w, act, pr, y, s);
  }
}

// ---- embed -----------------------------------------------------------------

struct EmbedArgs {
  DType type;
  const uint8_t* data;
  int64_t rows;  // all rows of the table
  int64_t cols;
  const int32_t* tokens;
  int64_t n;
  float* x;
};

// Element `col` of row R, with the CPU reference's to_float arithmetic.
__device__ float embed_value(const EmbedArgs& a, int64_t R, int64_t col) {
  if (a.type == DType::F32) return reinterpret_cast<const float*>(a.data)[R * a.cols + col];
  if (a.type == DType::F16 || a.type == DType::BF16) {
    const HalfGeom g = half_geom(a.rows, a.cols);
    const int m = static_cast<int>(R % 16), c = static_cast<int>(col % 16);
    const int lane = 4 * (m % 8) + (c % 8) / 2;
    const int reg = (m >= 8 ? 1 : 0) + (c >= 8 ? 2 : 0);
    const int64_t tile = (R / 16) * g.nc + col / 16;
    const uint16_t h = reinterpret_cast<const uint16_t*>(a.data)[tile * 256 + lane * 8 + reg * 2 + c % 2];
    return a.type == DType::F16 ? half_bits_to_float(h) : __uint_as_float(static_cast<uint32_t>(h) << 16);
  }
  const QuantGeom g = quant_geom(a.cols);
  const int b = static_cast<int>(col / 32), l = static_cast<int>(col % 32);
  const size_t qb = a.type == DType::Q8_0 ? 32 : 16;
  const size_t mb = a.type == DType::Q4_K ? 8 : a.type == DType::Q6_K ? 12 : 2;
  const int64_t at = R * g.slots() + g.slot(b);
  const uint8_t* q = a.data + at * qb;
  const uint8_t* m =
      a.data + align256(static_cast<size_t>(a.rows) * static_cast<size_t>(g.slots()) * qb) + at * mb;
  if (a.type == DType::Q8_0) return __fmul_rn(__int2float_rn(static_cast<int8_t>(q[l])), Q80::meta(m).d);
  const int nib = l < 16 ? (q[l] & 15) : (q[l - 16] >> 4);
  if (a.type == DType::Q4_0) return __fmul_rn(__int2float_rn(nib - 8), Q40::meta(m).d);
  if (a.type == DType::Q4_K) {
    const Q4K::Meta k = Q4K::meta(m);
    return __fsub_rn(__fmul_rn(k.ws, __int2float_rn(nib)), k.wm);
  }
  const Q6K::Meta k = Q6K::meta(m);
  const int v = l % 16, t = v / 4, e = v % 4;  // value 4t+e of its half
  const uint32_t byte = (((t & 1) ? k.hi1 : k.hi0) >> (8 * e)) & 0xffu;
  const int shift = (t < 2 ? 0 : 4) + (l < 16 ? 0 : 2);
  const int u = nib | static_cast<int>(((byte >> shift) & 3u) << 4);
  const int sc = l < 16 ? k.sc_lo : k.sc_hi;
  return __fmul_rn(__fmul_rn(k.d, __int2float_rn(sc)), __int2float_rn(u - 32));
}

// Grid: x spans a row's columns, y walks the tokens.
__global__ void embed_kernel(EmbedArgs a) {
  for (int64_t t = blockIdx.y; t < a.n; t += gridDim.y) {
    const int32_t tok = a.tokens[t];
    const bool ok = tok >= 0 && tok < a.rows;
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < a.cols;
         c += static_cast<int64_t>(gridDim.x) * blockDim.x)
      a.x[t * a.cols + c] = ok ? embed_value(a, tok, c) : __int_as_float(0x7fc00000);
  }
}

}  // namespace

void matmul(const DevMatrix& w, const void* act, int64_t n, float* y, bool accumulate, int64_t ldy, cudaStream_t s) {
  check_matrix(w, "matmul");
  if (n < 0) fail("CUDA matmul: negative row count ", n);
  if (ldy == 0) ldy = w.rows;
  if (ldy < w.rows) fail("CUDA matmul: output stride ", ldy, " is less than ", w.rows, " rows");
  if (n == 0) return;
  ProductRows pr;
  pr.n = n;
  pr.ldy = ldy;
  pr.act_rows = n;
  pr.n_stack = w.n_stack;
  pr.accumulate = accumulate;
  dispatch(w, act, pr, y, s);
}

void matmul_experts(const DevMatrix& w, const void* act, bool act_per_pair, const int32_t* ids, int64_t n, int k,
                    float* y, cudaStream_t s) {
  check_matrix(w, "matmul_experts");
  if (n < 0 || k < 1) fail("CUDA matmul_experts: bad shape n = ", n, ", k = ", k);
  if (ids == nullptr) fail("CUDA matmul_experts: null expert ids");
  if (n == 0) return;
  ProductRows pr;
  pr.n = n * k;
  pr.act_rows = act_per_pair ? n * k : n;
  pr.ids = ids;
  pr.k = k;
  pr.per_pair = act_per_pair;
  pr.n_stack = w.n_stack;
  pr.ldy = w.rows;
  dispatch(w, act, pr, y, s);
}

void embed(const DevMatrix& table, const int32_t* tokens, int64_t n, float* x, cudaStream_t s) {
  check_matrix(table, "embed");
  if (n < 0) fail("CUDA embed: negative token count ", n);
  if (n == 0) return;
  if (tokens == nullptr || x == nullptr) fail("CUDA embed: null tokens or output");
  EmbedArgs a{table.type, static_cast<const uint8_t*>(table.data), table.rows * table.n_stack, table.cols, tokens, n, x};
  constexpr int kThreads = 256;
  const int64_t bx = (table.cols + kThreads - 1) / kThreads;
  const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(n < 65535 ? n : 65535));
  embed_kernel<<<grid, kThreads, 0, s>>>(a);
  check_launch("embed_kernel");
}

}  // namespace lineage::cuda
