// The CUDA Device: one GPU, one non-blocking stream. Every entry point
// first makes the GPU current for the calling thread (the server calls from
// several threads), and every CUDA status is checked: a failure is an Error
// naming the call and CUDA's description of it.
#include "kernels/cuda/cuda_device.h"

#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "core/error.h"
#include "kernels/cuda/act_layout.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops_common.cuh"

namespace lineage {

namespace {

using cuda::check_cuda;

class CudaGraph final : public DeviceGraph {
 public:
  CudaGraph(int device, cudaGraphExec_t exec) : device_(device), exec_(exec) {}
  ~CudaGraph() override {
    if (cudaSetDevice(device_) == cudaSuccess) cudaGraphExecDestroy(exec_);
  }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  cudaGraphExec_t exec() const { return exec_; }

 private:
  int device_;
  cudaGraphExec_t exec_;
};

// Host memory for a matrix on its way to the GPU.
struct HostBuffer {
  void* p = nullptr;
  explicit HostBuffer(size_t bytes) {
    check_cuda(cudaMallocHost(&p, bytes), "cudaMallocHost (weight staging)");
  }
  ~HostBuffer() {
    if (p) cudaFreeHost(p);
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
};

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(int index) : index_(index) {
    use();
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, index_), "cudaGetDeviceProperties");
    name_ = "cuda:" + std::to_string(index_) + " " + prop.name;
    n_sm_ = prop.multiProcessorCount;
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  }

  ~CudaDevice() override {
    if (cudaSetDevice(index_) == cudaSuccess) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
  }

  CudaDevice(const CudaDevice&) = delete;
  CudaDevice& operator=(const CudaDevice&) = delete;

  std::string name() const override { return name_; }

  void memory(size_t& free_bytes, size_t& total_bytes) const override {
    use();
    check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  }

  bool supports(DType t) const override { return cuda::matmul_supports(t); }

  // ---- memory ----------------------------------------------------------
  void* alloc(size_t bytes) override {
    use();
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();  // an allocation failure must not be reported again by the next launch check
      size_t free_b = 0, total_b = 0;
      if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        fail(name_, ": cudaMalloc of ", bytes, " bytes failed: ", cudaGetErrorString(e));
      }
      fail(name_, ": cudaMalloc of ", bytes, " bytes failed: ", cudaGetErrorString(e), " (", free_b, " of ",
           total_b, " bytes free)");
    }
    return p;
  }

  // Frees run in destructors and on error paths, so they do not throw: a
  // failure here follows an earlier fault, which synchronize() reports.
  void free(void* p) override {
    if (!p) return;
    if (cudaSetDevice(index_) != cudaSuccess || cudaFree(p) != cudaSuccess) cudaGetLastError();
  }

  void* alloc_host(size_t bytes) override {
    use();
    void* p = nullptr;
    const cudaError_t e = cudaMallocHost(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      fail(name_, ": cudaMallocHost of ", bytes, " bytes failed: ", cudaGetErrorString(e));
    }
    return p;
  }

  void free_host(void* p) override {
    if (!p) return;
    if (cudaSetDevice(index_) != cudaSuccess || cudaFreeHost(p) != cudaSuccess) cudaGetLastError();
  }

  // Synchronous copies go through the stream, so they see (and are seen by)
  // the work queued before them.
  void upload(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    use();
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (upload)");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (upload)");
  }

  void download(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    use();
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (download)");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (download)");
  }

  void upload_async(void* dst, const void* host_src, size_t bytes) override {
    if (bytes == 0) return;
    use();
    check_cuda(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_),
               "cudaMemcpyAsync (upload_async)");
  }

  void download_async(void* host_dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    use();
    check_cuda(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_),
               "cudaMemcpyAsync (download_async)");
  }

  void copy(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0 || dst == src) return;
    use();
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync (copy)");
  }

  void fill_zero(void* dst, size_t bytes) override {
    if (bytes == 0) return;
    use();
    check_cuda(cudaMemsetAsync(dst, 0, bytes, stream_), "cudaMemsetAsync");
  }

  void synchronize() override {
    use();
    const cudaError_t e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) fail(name_, ": a queued operation failed: cudaStreamSynchronize: ", cudaGetErrorString(e));
  }

  // ---- recording ---------------------------------------------------------
  std::unique_ptr<DeviceGraph> capture(const std::function<void()>& body) override {
    use();
    // Thread-local mode: another thread's unrelated CUDA calls (the server
    // has several) neither break this capture nor are broken by it.
    if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    bool ok = true;
    try {
      body();
    } catch (...) {
      ok = false;
    }
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    cudaGraphExec_t exec = nullptr;
    if (ok && end == cudaSuccess && graph != nullptr)
      ok = cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
    else
      ok = false;
    if (graph) cudaGraphDestroy(graph);
    if (!ok) {
      if (exec) cudaGraphExecDestroy(exec);
      cudaGetLastError();  // capture errors are not sticky; the caller goes on without a graph
      return nullptr;
    }
    return std::make_unique<CudaGraph>(index_, exec);
  }

  void replay(const DeviceGraph& g) override {
    const auto* cg = dynamic_cast<const CudaGraph*>(&g);
    if (!cg) fail(name_, ": replay of a recording made by another device");
    use();
    check_cuda(cudaGraphLaunch(cg->exec(), stream_), "cudaGraphLaunch");
  }

  // ---- weights -----------------------------------------------------------
  DevMatrix upload_matrix(DType type, int64_t cols, std::span<const MatrixPart> parts, int n_stack) override {
    if (!supports(type)) fail(name_, ": no matrix kernels for type ", dtype_name(type));
    int64_t rows = 0;
    for (const MatrixPart& p : parts) rows += p.rows;
    if (cols <= 0 || rows <= 0) fail(name_, ": upload of a ", rows, " x ", cols, " matrix");
    if (n_stack < 1 || rows % n_stack != 0) fail(name_, ": ", rows, " rows do not split into ", n_stack, " matrices");
    DevMatrix m;
    m.type = type;
    m.rows = rows / n_stack;
    m.cols = cols;
    m.n_stack = n_stack;
    m.bytes = cuda::packed_bytes(type, rows, cols);
    HostBuffer staging(m.bytes);
    cuda::pack_matrix(type, cols, parts, n_stack, staging.p);
    m.data = alloc(m.bytes);
    try {
      upload(m.data, staging.p, m.bytes);
    } catch (...) {
      cudaFree(m.data);
      throw;
    }
    return m;
  }

  void free_matrix(DevMatrix& m) override {
    free(m.data);
    m = DevMatrix{};
  }

  // ---- activations -------------------------------------------------------
  void convert(const float* x, int64_t n, int64_t cols, ActFormat f, void* out) override {
    use();
    cuda::convert(x, n, cols, f, out, stream_);
  }

  void rmsnorm(const float* x, const float* w, int64_t n, int64_t cols, float eps, ActFormat f, void* out) override {
    use();
    cuda::rmsnorm(x, w, n, cols, eps, f, out, stream_);
  }

  void swiglu(const float* gate_up, int64_t n, int64_t ff, ActFormat f, void* out) override {
    use();
    cuda::swiglu(gate_up, n, ff, f, out, stream_);
  }

  void embed(const DevMatrix& table, const int32_t* tokens, int64_t n, float* x) override {
    use();
    cuda::embed(table, tokens, n, x, stream_);
  }

  // ---- products ----------------------------------------------------------
  void matmul(const DevMatrix& w, const void* act, int64_t n, float* y, bool accumulate, int64_t ldy) override {
    if (ldy == 0) ldy = w.rows;
    if (ldy < w.rows) fail(name_, ": output stride ", ldy, " is less than the ", w.rows, " rows of the matrix");
    use();
    cuda::matmul(w, act, n, y, accumulate, ldy, stream_);
  }

  void matmul_experts(const DevMatrix& w, const void* act, bool act_per_pair, const int32_t* ids, int64_t n, int k,
                      float* y) override {
    use();
    cuda::matmul_experts(w, act, act_per_pair, ids, n, k, y, stream_);
  }

  void moe_route(const float* logits, int64_t n, int n_expert, int k, int32_t* ids, float* weights) override {
    use();
    cuda::moe_route(logits, n, n_expert, k, ids, weights, stream_);
  }

  void moe_combine(const float* y, const float* weights, int64_t n, int k, int64_t cols, float* x) override {
    use();
    cuda::moe_combine(y, weights, n, k, cols, x, stream_);
  }

  // ---- attention -----------------------------------------------------------
  void rope_store(float* qkv, const QkvShape& s, const RowMeta* meta, int64_t n, const RopeParams& rope,
                  const KvLayer& l) override {
    use();
    cuda::rope_store(qkv, s, meta, n, rope, l, stream_);
  }

  void attention(const float* qkv, const QkvShape& s, const RowMeta* meta, int64_t n, const KvLayer& l,
                 const AttentionParams& p, float* out, void* scratch) override {
    use();
    cuda::attention(qkv, s, meta, n, l, p, out, scratch, n_sm_, stream_);
  }

  size_t attention_scratch_bytes(const QkvShape& s, int64_t n, int n_ctx) const override {
    return cuda::attention_scratch_bytes(s, n, n_ctx);
  }

 private:
  void use() const { check_cuda(cudaSetDevice(index_), "cudaSetDevice"); }

  int index_;
  int n_sm_ = 1;
  std::string name_;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no GPU: not an error here
    return 0;
  }
  return n;
}

std::shared_ptr<Device> make_cuda_device(int index) {
  const int count = cuda_device_count();
  if (index < 0 || index >= count) fail("no CUDA GPU number ", index, " (", count, " found)");
  return std::make_shared<CudaDevice>(index);
}

}  // namespace lineage
