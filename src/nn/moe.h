// Mixture-of-experts SwiGLU block as in Mixtral: a router scores every
// expert, softmax over all of them, the top k are kept and their weights
// renormalized to sum to 1, and the output is the weighted sum of those
// experts' SwiGLU outputs.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/ffn.h"

namespace lineage {

struct MoeWeights {
  Matrix router;                    // [n_expert rows][n_embd]
  std::vector<FfnWeights> experts;  // [n_expert]
  int n_expert_used = 0;
};

// Picks the k largest of probs[0..n) (ties to the lower index) and writes
// their indices and renormalized weights.
void moe_select(const float* probs, int n, int k, int* idx, float* weight);
// Indices of the k largest of scores[0..n), largest first; the lowest index
// wins a tie. Both routers (softmax and sigmoid weights) choose this way.
void moe_top_k(const float* scores, int n, int k, int* idx);

// out: [n][n_embd] = moe(x: [n][n_embd]).
void moe_ffn(const MoeWeights& w, const float* x, int64_t n, int64_t n_embd, float* out, ThreadPool& pool);

}  // namespace lineage
