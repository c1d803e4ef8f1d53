// Token samplers: penalties, then truncation (top-k, top-p, min-p) on the
// untempered distribution, then temperature, then a draw from a seeded RNG,
// so the same seed and logits always give the same token.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace lineage {

struct SamplerParams {
  float temperature = 0.8f;  // <= 0 means greedy (argmax)
  int top_k = 40;            // <= 0 disables
  float top_p = 0.95f;       // >= 1 disables
  float min_p = 0.05f;       // <= 0 disables
  float repeat_penalty = 1.0f;     // 1 disables; divides positive logits, multiplies negative ones
  int repeat_last_n = 64;          // how many recent tokens the penalties look at
  float frequency_penalty = 0.0f;  // subtracts count * this
  float presence_penalty = 0.0f;   // subtracts this once if present
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // Picks the next token from logits (modified in place by the penalties);
  // history is every token of the sequence so far.
  int32_t sample(float* logits, int n_vocab, const std::vector<int32_t>& history);
  const SamplerParams& params() const { return p_; }

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;  // scratch: (logit, id)
};

// Index of the largest logit; the lowest index wins a tie.
int32_t argmax(const float* logits, int n);

void apply_penalties(float* logits, int n_vocab, const std::vector<int32_t>& history, const SamplerParams& p);

}  // namespace lineage
