// Token samplers: penalties, then truncation (top-k, top-p, min-p) on the
// untempered distribution, then temperature, then a draw from a seeded RNG,
// so the same seed and logits always give the same token.
#pragma once
#include <cstdint>
#include <cstddef>
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

// Restricts which tokens may be sampled (a grammar). Sampling under a
// constraint is exactly sampling from the logits with every disallowed token
// removed; the sampler asks about single tokens where that decides the
// result and asks for the whole mask only otherwise.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  virtual bool allows(int32_t id) = 0;
  // allowed[id] = allows(id) for every id in [0, n_vocab).
  virtual void fill_mask(std::vector<uint8_t>& allowed) = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // Picks the next token from logits (modified in place by the penalties);
  // history is every token of the sequence so far. With a constraint, only
  // an allowed token is returned (Error when none is allowed).
  int32_t sample(float* logits, int n_vocab, const std::vector<int32_t>& history, TokenConstraint* constraint = nullptr);
  const SamplerParams& params() const { return p_; }

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
  // The allowed candidates, best first: the top_k best (all when top_k is
  // off) into cand_.
  void constrained_candidates(const float* logits, int n_vocab, TokenConstraint& c);

  std::vector<std::pair<float, int32_t>> cand_;  // scratch: (logit, id)
  std::vector<uint8_t> mask_;
};

// Index of the largest logit; the lowest index wins a tie.
int32_t argmax(const float* logits, int n);

void apply_penalties(float* logits, int n_vocab, const std::vector<int32_t>& history, const SamplerParams& p);

}  // namespace lineage
