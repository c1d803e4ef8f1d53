// Perplexity of a model on a text, and how far a model's next-token
// distributions are from a base model's on the same tokens (KL divergence,
// top-1 agreement, change of the true token's probability).
//
// The method is the one the common GGUF perplexity tool uses, so numbers
// compare: the text is tokenized once (with BOS when the vocabulary adds
// one), cut into chunks of n_ctx tokens, each chunk's first token is replaced
// by BOS, and only the second half of each chunk is scored, so every scored
// token has at least n_ctx/2 tokens of context.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace lineage {

class Engine;

struct PerplexityOptions {
  int n_ctx = 256;
  int n_batch = 0;  // tokens per forward pass; 0 or more than n_ctx: n_ctx
};

// Mean of per-token values with the standard error of that mean.
struct MeanStat {
  double mean = 0;
  double err = 0;
};

struct PerplexityResult {
  int n_chunks = 0;
  int64_t n_scored = 0;
  double ppl = 0;
  double ppl_err = 0;            // from the spread of the per-token log-likelihoods
  std::vector<double> running;   // perplexity after each chunk
};

struct DivergenceResult {
  PerplexityResult model, base;
  MeanStat kl;                   // KL(base || model) in nats
  double kl_max = 0, kl_p99 = 0, kl_p999 = 0, kl_median = 0;
  MeanStat top1;                 // fraction of positions whose argmax agrees
  MeanStat log_ppl_ratio;        // mean of ln p_base(tok) - ln p_model(tok)
  MeanStat delta_p;              // p_model(tok) - p_base(tok)
  double delta_p_rms = 0;
  // Percentiles of delta_p at kDeltaPPercentiles (0 = minimum, 100 = maximum).
  std::vector<double> delta_p_percentiles;
};

inline constexpr double kDeltaPPercentiles[] = {100, 99.9, 99, 95, 90, 75, 50, 25, 10, 5, 1, 0.1, 0};

// Number of whole chunks `tokens` holds; Error when fewer than two (the
// common tool's requirement, so that a result always averages chunks).
int perplexity_chunks(size_t n_tokens, int n_ctx);

// Scores `tokens` (already tokenized, BOS first where the model uses one).
// on_chunk(i, running_ppl) is called after each chunk.
PerplexityResult compute_perplexity(const Engine& engine, const std::vector<int32_t>& tokens,
                                    const PerplexityOptions& opt,
                                    const std::function<void(int, double)>& on_chunk = nullptr);

// Runs the same chunks through base and model, one chunk at a time (memory
// for one chunk's logits of each, whatever the text's length), and compares
// the distributions at every scored position. The two must share a
// vocabulary size. on_chunk gets the model's running perplexity.
DivergenceResult compare_to_base(const Engine& model, const Engine& base, const std::vector<int32_t>& tokens,
                                 const PerplexityOptions& opt,
                                 const std::function<void(int, double)>& on_chunk = nullptr);

// Several models against one base: each chunk goes through the base once
// (e.g. every quantization of a model compared with its F16 file in one
// pass). on_chunk gets the first model's running perplexity.
std::vector<DivergenceResult> compare_to_base(const std::vector<const Engine*>& models, const Engine& base,
                                              const std::vector<int32_t>& tokens, const PerplexityOptions& opt,
                                              const std::function<void(int, double)>& on_chunk = nullptr);

}  // namespace lineage
