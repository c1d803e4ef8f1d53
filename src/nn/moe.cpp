#include "nn/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "nn/vec.h"

namespace lineage {

void moe_top_k(const float* scores, int n, int k, int* idx) {
  for (int s = 0; s < k; ++s) {
    int best = -1;
    for (int e = 0; e < n; ++e) {
      if (std::find(idx, idx + s, e) != idx + s) continue;
      if (best < 0 || scores[e] > scores[best]) best = e;
    }
    idx[s] = best;
  }
}

void moe_select(const float* probs, int n, int k, int* idx, float* weight) {
  moe_top_k(probs, n, k, idx);
  for (int s = 0; s < k; ++s) weight[s] = probs[idx[s]];
  float sum = 0;
  for (int s = 0; s < k; ++s) sum += weight[s];
  for (int s = 0; s < k; ++s) weight[s] /= sum;
}

void moe_ffn(const MoeWeights& w, const float* x, int64_t n, int64_t n_embd, float* out, ThreadPool& pool) {
  const int n_expert = static_cast<int>(w.experts.size());
  const int k = w.n_expert_used;
  std::vector<float> logits(n * n_expert);
  apply(w.router, x, n, logits.data(), pool);

  std::vector<int> chosen(n * k);
  std::vector<float> weights(n * k);
  for (int64_t t = 0; t < n; ++t) {
    float* p = logits.data() + t * n_expert;
    const float mx = *std::max_element(p, p + n_expert);
    float sum = 0;
    for (int e = 0; e < n_expert; ++e) sum += (p[e] = std::exp(p[e] - mx));
    for (int e = 0; e < n_expert; ++e) p[e] /= sum;
    moe_select(p, n_expert, k, chosen.data() + t * k, weights.data() + t * k);
  }

  // Tokens are gathered per expert so each expert's matrices are read once
  // per batch rather than once per token.
  std::fill(out, out + n * n_embd, 0.0f);
  const int64_t n_ff = w.experts.empty() ? 0 : w.experts[0].gate.rows;
  std::vector<float> xs(n * n_embd), ys(n * n_embd), gate(n * n_ff), up(n * n_ff);
  std::vector<int64_t> rows;
  std::vector<float> row_w;
  for (int e = 0; e < n_expert; ++e) {
    rows.clear();
    row_w.clear();
    for (int64_t t = 0; t < n; ++t)
      for (int s = 0; s < k; ++s)
        if (chosen[t * k + s] == e) {
          rows.push_back(t);
          row_w.push_back(weights[t * k + s]);
        }
    if (rows.empty()) continue;
    const int64_t m = static_cast<int64_t>(rows.size());
    for (int64_t r = 0; r < m; ++r) std::memcpy(&xs[r * n_embd], x + rows[r] * n_embd, n_embd * sizeof(float));
    swiglu_ffn(w.experts[e], xs.data(), m, ys.data(), gate.data(), up.data(), pool);
    for (int64_t r = 0; r < m; ++r) axpy_f32(row_w[r], &ys[r * n_embd], out + rows[r] * n_embd, n_embd);
  }
}

}  // namespace lineage
