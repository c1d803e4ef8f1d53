// Weight matrices on the GPU: their device layout (rearranged at upload),
// the matrix products that read it, and embedding rows out of it. Used by
// the CUDA Device (cuda_device.cu).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/device.h"

namespace lineage::cuda {

bool matmul_supports(DType t);
// Bytes of the device layout of a matrix of `rows` rows (all stacked
// matrices together) of `cols` values.
size_t packed_bytes(DType t, int64_t rows, int64_t cols);
// Rearranges the parts (GGUF layout, host memory) into dst (host memory of
// packed_bytes(t, sum of rows, cols) bytes), ready to copy to the device.
void pack_matrix(DType t, int64_t cols, std::span<const MatrixPart> parts, int n_stack, void* dst);

// Device::matmul, Device::matmul_experts and Device::embed on stream s.
// ldy: row stride of y in floats (>= w.rows; the Device resolves ldy = 0).
void matmul(const DevMatrix& w, const void* act, int64_t n, float* y, bool accumulate, int64_t ldy, cudaStream_t s);
void matmul_experts(const DevMatrix& w, const void* act, bool act_per_pair, const int32_t* ids, int64_t n, int k,
                    float* y, cudaStream_t s);
void embed(const DevMatrix& table, const int32_t* tokens, int64_t n, float* x, cudaStream_t s);

}  // namespace lineage::cuda
