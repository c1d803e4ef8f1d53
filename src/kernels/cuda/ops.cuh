// Launchers of the CUDA kernels other than the matrix products (ops_*.cu),
// called by the CUDA Device (cuda_device.cu) on its stream. Each checks its
// shapes on the host (Error naming the operation) and queues kernels only:
// no allocation, no synchronous copy and no host read of device data, so
// every one of them can be recorded into a CUDA graph. Grids depend on the
// shapes and n only; rows read their positions from device memory.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/device.h"

namespace lineage::cuda {

void convert(const float* x, int64_t n, int64_t cols, ActFormat f, void* out, cudaStream_t s);
void rmsnorm(const float* x, const float* w, int64_t n, int64_t cols, float eps, ActFormat f, void* out,
             cudaStream_t s);
void swiglu(const float* gate_up, int64_t n, int64_t ff, ActFormat f, void* out, cudaStream_t s);
void moe_route(const float* logits, int64_t n, int n_expert, int k, int32_t* ids, float* weights, cudaStream_t s);
void moe_combine(const float* y, const float* weights, int64_t n, int k, int64_t cols, float* x, cudaStream_t s);
void rope_store(float* qkv, const QkvShape& shape, const RowMeta* meta, int64_t n, const RopeParams& rope,
                const KvLayer& l, cudaStream_t s);
// n_sm: the GPU's multiprocessor count (sizes the split-parallel grid of
// short calls). scratch must hold attention_scratch_bytes(shape, n, c) for
// some c >= p.n_ctx_max (the split-parallel shape keeps per-split states
// there); with no scratch or n_ctx_max = 0 every row is computed in-block,
// which gives the same bits. Rows whose metadata is unusable (pos outside
// 0..n_ctx - 1, no cache, n_ctx above n_ctx_max) get zeros: the GPU cannot
// raise an error for values it reads from its own memory.
void attention(const float* qkv, const QkvShape& shape, const RowMeta* meta, int64_t n, const KvLayer& l,
               const AttentionParams& p, float* out, void* scratch, int n_sm, cudaStream_t s);
size_t attention_scratch_bytes(const QkvShape& shape, int64_t n, int n_ctx);

}  // namespace lineage::cuda
