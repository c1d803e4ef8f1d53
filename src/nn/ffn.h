// SwiGLU feed-forward block: down(silu(gate(x)) * up(x)).
#pragma once
#include <cstdint>

#include "nn/matrix.h"

namespace lineage {

struct FfnWeights {
  Matrix gate;  // [n_ff rows][n_embd]
  Matrix up;    // [n_ff rows][n_embd]
  Matrix down;  // [n_embd rows][n_ff]
};

// g[i] = silu(g[i]) * u[i]
void silu_mul(float* g, const float* u, int64_t n);

// out: [n][n_embd] = ffn(x: [n][n_embd]); gate_buf and up_buf hold n * n_ff
// floats each.
void swiglu_ffn(const FfnWeights& w, const float* x, int64_t n, float* out, float* gate_buf, float* up_buf,
                ThreadPool& pool);

}  // namespace lineage
