#include "nn/ffn.h"

#include <cmath>

namespace lineage {

void silu_mul(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void swiglu_ffn(const FfnWeights& w, const float* x, int64_t n, float* out, float* gate_buf, float* up_buf,
                ThreadPool& pool) {
  apply(w.gate, x, n, gate_buf, pool);
  apply(w.up, x, n, up_buf, pool);
  silu_mul(gate_buf, up_buf, n * w.gate.rows);
  apply(w.down, gate_buf, n, out, pool);
}

}  // namespace lineage
