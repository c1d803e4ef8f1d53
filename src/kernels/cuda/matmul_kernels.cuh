// What the matrix-product launchers take (matmul.cu dispatches to them by
// weight type). Internal to the matmul*.cu files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/device.h"

namespace lineage::cuda {

// Which rows of activations and outputs a launch covers: either the n
// tokens of a plain product (ids == nullptr), or the n * k (token, expert)
// pairs of an expert product, where pair p takes expert ids[p], activation
// row per_pair ? p : p / k, and writes output row p.
struct ProductRows {
  int64_t n = 0;        // tokens (plain) or pairs (experts)
  int64_t act_rows = 0; // rows of the activation buffer
  const int32_t* ids = nullptr;
  int k = 1;
  bool per_pair = false;
  int n_stack = 1;
  bool accumulate = false;
  int64_t ldy = 0;  // floats between output rows
};

// Throws Error naming the kernel when the launch failed.
void check_launch(const char* kernel);

void launch_quant(const DevMatrix& w, const void* act, const ProductRows& pr, float* y, cudaStream_t s);
void launch_half(const DevMatrix& w, const void* act, const ProductRows& pr, float* y, cudaStream_t s);
void launch_f32(const DevMatrix& w, const void* act, const ProductRows& pr, float* y, cudaStream_t s);

}  // namespace lineage::cuda
