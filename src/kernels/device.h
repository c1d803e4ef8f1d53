// Compute on a device with its own memory: a CUDA GPU (kernels/cuda/, built
// with -DLINEAGE_CUDA=ON) or the host reference device (kernels/device_ref),
// which defines what every device kernel computes in plain scalar C++ and
// lets the model's device path run, and be tested, on any machine.
//
// Every pointer an operation takes is device memory from alloc() unless its
// comment says otherwise. Operations run in order on the device's one
// stream; host pointers passed to upload/download stay untouched until
// synchronize() (or are copied before the call returns, on the reference).
//
// Results of a row never depend on the other rows of a call: every kernel
// reduces in an order fixed by the row's own data and the matrix shape (not
// by the number of rows), so a sequence's output is the same alone or in a
// batch, and a prompt gives the same keys and values whether it comes in
// one call or in slices.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "tensor/dtype.h"

namespace lineage {

// The form a matrix product takes its activation rows in, chosen by the
// weight type: quantized weights multiply int8 activations (one float scale
// per 32 values, like the CPU's Q8_0), F16/BF16 weights activations rounded
// to their own type, F32 weights plain floats.
enum class ActFormat { F32, F16, BF16, Q8 };

// The activation format for a weight type (Error for unsupported types).
ActFormat act_format(DType weight_type);

// A weight matrix in device memory, in the device's own layout for its
// type (the backend may rearrange blocks at upload). `n_stack` matrices of
// rows x cols each when it holds stacked experts.
struct DevMatrix {
  DType type = DType::F32;
  int64_t rows = 0;  // per stacked matrix
  int64_t cols = 0;
  int n_stack = 1;
  void* data = nullptr;
  size_t bytes = 0;
};

// Rows of host weights that upload_matrix() concatenates into one matrix
// (for example wq, wk and wv as one [q + k + v rows] matrix), all of one
// type and width; data is in the GGUF layout.
struct MatrixPart {
  const void* data = nullptr;
  int64_t rows = 0;
};

// Where one row of a forward step belongs: its position and its sequence's
// device KV cache (kv: the device address returned for that cache by
// alloc(); layout in AttentionParams).
struct RowMeta {
  int32_t pos = 0;
  int32_t n_ctx = 0;
  uint64_t kv = 0;
};

// A row's fused [q | k | v] vector (matmul output of the concatenated
// wq/wk/wv) is `row_stride` floats: q heads at 0, k heads at q_dim, v heads
// at q_dim + kv_dim.
struct QkvShape {
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  int row_stride = 0;
  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// The KV cache of a sequence on a device is one allocation of F16 values,
// n_ctx positions per head: for each device layer j in order, K as
// [n_head_kv_j][n_ctx][head_dim] then V in the same shape. Layer j starts
// at element 2 * head_dim * n_ctx * kv_heads_before, where kv_heads_before
// is the sum of n_head_kv over the device layers before it.
struct KvLayer {
  int64_t kv_heads_before = 0;
};

struct RopeParams {
  int rope_dim = 0;              // leading dims of each head that rotate (adjacent pairs)
  const double* inv_freq = nullptr;  // device: [rope_dim / 2] radians per position, factors applied
};

struct AttentionParams {
  float scale = 0;         // applied to q.k (1 / sqrt(head_dim))
  int sliding_window = 0;  // W > 0: position i sees j iff i - W < j <= i
  int n_ctx_max = 0;       // the largest n_ctx of the rows: kernels may size their grid from it
};

// A replayable recording of operations (a CUDA graph on the GPU).
class DeviceGraph {
 public:
  virtual ~DeviceGraph() = default;
};

class Device {
 public:
  virtual ~Device() = default;

  // "cuda:0 NVIDIA H100 80GB HBM3" or "reference".
  virtual std::string name() const = 0;
  // Free and total device memory in bytes.
  virtual void memory(size_t& free_bytes, size_t& total_bytes) const = 0;
  // Whether matmul supports weights of this type.
  virtual bool supports(DType t) const = 0;

  // ---- memory ----------------------------------------------------------
  // Error (naming the size and what is free) when the device is full.
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* p) = 0;
  // Page-locked host memory for upload_async/download_async.
  virtual void* alloc_host(size_t bytes) = 0;
  virtual void free_host(void* p) = 0;
  // Synchronous copies from / to any host memory.
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;
  virtual void download(void* dst, const void* src, size_t bytes) = 0;
  // Stream-ordered copies; host side must be alloc_host() memory. Inside a
  // capture they are recorded, and each replay copies the host buffer's
  // contents at that time.
  virtual void upload_async(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download_async(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // device to device, stream-ordered
  virtual void fill_zero(void* dst, size_t bytes) = 0;
  // Waits for everything queued; a failed kernel surfaces here as an Error.
  virtual void synchronize() = 0;

  // ---- recording ---------------------------------------------------------
  // Records what body queues (without running it) for replay(); nullptr
  // when the device cannot record, and then nothing was queued.
  virtual std::unique_ptr<DeviceGraph> capture(const std::function<void()>& body) = 0;
  virtual void replay(const DeviceGraph& g) = 0;

  // ---- weights -----------------------------------------------------------
  // Uploads the parts as one matrix of sum(rows) rows (or n_stack matrices
  // stacked, each `rows / n_stack` rows, for experts). Error for types the
  // device does not support.
  virtual DevMatrix upload_matrix(DType type, int64_t cols, std::span<const MatrixPart> parts, int n_stack = 1) = 0;
  virtual void free_matrix(DevMatrix& m) = 0;

  // ---- activations -------------------------------------------------------
  // Bytes of n rows of `cols` values in an activation format (the layout of
  // kernels/cuda/act_layout.h, which every device uses).
  size_t act_bytes(ActFormat f, int64_t n, int64_t cols) const;
  // out = rows of x in format f (F32: a copy).
  virtual void convert(const float* x, int64_t n, int64_t cols, ActFormat f, void* out) = 0;
  // out = format f of x / sqrt(mean(x^2) + eps) * w, row by row; w: [cols].
  virtual void rmsnorm(const float* x, const float* w, int64_t n, int64_t cols, float eps, ActFormat f,
                       void* out) = 0;
  // out = format f of silu(g) * u, where each of the n rows of gate_up holds
  // g = [0, ff) then u = [ff, 2 ff).
  virtual void swiglu(const float* gate_up, int64_t n, int64_t ff, ActFormat f, void* out) = 0;
  // x[t] = dequantized row tokens[t] of table (tokens: device int32).
  virtual void embed(const DevMatrix& table, const int32_t* tokens, int64_t n, float* x) = 0;

  // ---- products ----------------------------------------------------------
  // y[t * ldy + r] (= or +=) dot(row r of w, activation row t), t < n,
  // r < w.rows; ldy = 0 means w.rows (ldy > w.rows writes into a wider row,
  // e.g. q, k and v of different types side by side). act in
  // act_format(w.type). Per output a fixed reduction order that depends on
  // w's shape only.
  virtual void matmul(const DevMatrix& w, const void* act, int64_t n, float* y, bool accumulate, int64_t ldy = 0) = 0;
  // Mixture of experts: for each of n rows, k (expert, weight) pairs in
  // ids/weights ([n][k], device). Pair p = t * k + j uses expert ids[p]:
  //   y[p * w.rows + r] = dot(row r of expert ids[p] of w, act row a),
  // where a = t when act_per_pair is false (the same input for all k) and
  // a = p otherwise. Each pair's result is what matmul() gives that expert
  // alone for that row.
  virtual void matmul_experts(const DevMatrix& w, const void* act, bool act_per_pair, const int32_t* ids, int64_t n,
                              int k, float* y) = 0;
  // Mixtral routing: softmax over the n_expert logits of each row, the k
  // largest (ties to the lower index, largest first), weights renormalized
  // to sum to 1.
  virtual void moe_route(const float* logits, int64_t n, int n_expert, int k, int32_t* ids, float* weights) = 0;
  // x[t * cols + i] += sum over j < k, in order, of weights[t * k + j] *
  // y[(t * k + j) * cols + i].
  virtual void moe_combine(const float* y, const float* weights, int64_t n, int k, int64_t cols, float* x) = 0;

  // ---- attention -----------------------------------------------------------
  // Rotates the q and k heads of each of the n rows of qkv in place (RoPE
  // of arch llama at the row's position, angles in double), then stores its
  // k and v heads (as F16) at that position of the row's cache, layer l.
  virtual void rope_store(float* qkv, const QkvShape& s, const RowMeta* meta, int64_t n, const RopeParams& rope,
                          const KvLayer& l) = 0;
  // out[t] ([n_head * head_dim]) = causal softmax attention of row t's q
  // over positions 0..pos (or the sliding window) of its cache, layer l;
  // query head h reads KV head h / (n_head / n_head_kv). scratch holds
  // attention_scratch_bytes() bytes.
  virtual void attention(const float* qkv, const QkvShape& s, const RowMeta* meta, int64_t n, const KvLayer& l,
                         const AttentionParams& p, float* out, void* scratch) = 0;
  virtual size_t attention_scratch_bytes(const QkvShape& s, int64_t n, int n_ctx) const = 0;
};

// The device named by `spec`: "cuda" or "cuda:N" (Error when this build
// has no CUDA backend or no such GPU), "ref" (the host reference). The
// environment variable LINEAGE_DEVICE, when set, replaces "cuda" requests,
// so the whole device path can be exercised with LINEAGE_DEVICE=ref.
std::shared_ptr<Device> open_device(const std::string& spec);

// Whether this build has the CUDA backend and at least one GPU answers.
bool cuda_available();

}  // namespace lineage
