#include "nn/moe_sigmoid.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "nn/vec.h"

namespace lineage {

void moe_select_sigmoid(const float* logits, int n, int k, int* idx, float* weight) {
  moe_top_k(logits, n, k, idx);
  for (int s = 0; s < k; ++s) weight[s] = 1.0f / (1.0f + std::exp(-logits[idx[s]]));
}

void moe_sigmoid_ffn(const MoeWeights& w, const FfnWeights& shared, const float* x, int64_t n, int64_t n_embd,
                     float* out, ThreadPool& pool) {
  const int n_expert = static_cast<int>(w.experts.size());
  const int k = w.n_expert_used;
  std::vector<float> logits(n * n_expert);
  apply(w.router, x, n, logits.data(), pool);
  std::vector<int> chosen(n * k);
  std::vector<float> weights(n * k);
  for (int64_t t = 0; t < n; ++t)
    moe_select_sigmoid(logits.data() + t * n_expert, n_expert, k, chosen.data() + t * k, weights.data() + t * k);

  const int64_t n_ff = std::max(w.experts.empty() ? 0 : w.experts[0].gate.rows, shared.gate.rows);
  std::vector<float> xs(n * n_embd), ys(n * n_embd), gate(n * n_ff), up(n * n_ff);
  swiglu_ffn(shared, x, n, out, gate.data(), up.data(), pool);

  std::vector<int64_t> rows;
  for (int e = 0; e < n_expert; ++e) {
    rows.clear();
    for (int64_t t = 0; t < n; ++t)
      for (int s = 0; s < k; ++s)
        if (chosen[t * k + s] == e) {
          const int64_t r = static_cast<int64_t>(rows.size());
          rows.push_back(t);
          const float* src = x + t * n_embd;
          float* dst = &xs[r * n_embd];
          for (int64_t i = 0; i < n_embd; ++i) dst[i] = src[i] * weights[t * k + s];
        }
    if (rows.empty()) continue;  // an expert no token chose is never read
    const int64_t m = static_cast<int64_t>(rows.size());
    swiglu_ffn(w.experts[e], xs.data(), m, ys.data(), gate.data(), up.data(), pool);
    for (int64_t r = 0; r < m; ++r) add_f32(&ys[r * n_embd], out + rows[r] * n_embd, n_embd);
  }
}

}  // namespace lineage
