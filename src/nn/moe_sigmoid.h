// Mixture-of-experts block as Llama 4 routes it: the router's k largest raw
// logits pick the experts, each chosen expert sees its input scaled by
// sigmoid(logit) (the weight goes in before the nonlinearity, not on the
// output, and is not renormalized), and a shared expert that every token
// passes through is added.
#pragma once
#include <cstdint>

#include "nn/moe.h"

namespace lineage {

// Picks the k largest of logits[0..n) (ties to the lower index) and writes
// their indices and sigmoid weights.
void moe_select_sigmoid(const float* logits, int n, int k, int* idx, float* weight);

// out: [n][n_embd] = shared(x) + sum over chosen e of expert_e(w_e * x).
// Only the chosen experts' matrices are read; tokens that chose the same
// expert go through it together.
void moe_sigmoid_ffn(const MoeWeights& w, const FfnWeights& shared, const float* x, int64_t n, int64_t n_embd,
                     float* out, ThreadPool& pool);

}  // namespace lineage
