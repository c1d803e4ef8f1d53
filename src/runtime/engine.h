// The one API the front ends use: a loaded model with its tokenizer and a
// thread pool, and generation over a KV cache with streaming text output.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "runtime/kv_cache.h"
#include "sampling/grammar.h"
#include "sampling/grammar_vocab.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace lineage {

class Engine {
 public:
  // Opens and validates the file, binds the model and (when the file has a
  // vocabulary) the tokenizer.
  // options puts layers on a GPU (Model::load).
  static std::unique_ptr<Engine> load(const std::string& path, int n_threads, const LoadOptions& options = {});

  const GGUFFile& file() const { return *file_; }
  const Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config(); }
  // Error when the file carries no vocabulary.
  const Tokenizer& tokenizer() const;
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  ThreadPool& pool() const { return *pool_; }
  double load_seconds() const { return load_seconds_; }
  // Context to use when the user gives none: the model's, capped at 4096 so a
  // 128k-context model does not allocate a huge KV cache by default.
  int default_context() const;
  // Stop strings the model file asks for (`lineage.stop_strings`).
  std::vector<std::string> default_stop_strings() const;
  // The vocabulary as grammars see it, built on first use (Error when the
  // file has no vocabulary); safe to call from several threads.
  const GrammarVocab& grammar_vocab() const;

 private:
  std::shared_ptr<const GGUFFile> file_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  double load_seconds_ = 0;
  mutable std::once_flag grammar_vocab_once_;
  mutable std::unique_ptr<GrammarVocab> grammar_vocab_;
};

struct GenerateOptions {
  int n_predict = 128;  // < 0: until the context is full
  int n_batch = 512;    // prompt tokens per forward pass
  SamplerParams sampling;
  std::vector<std::string> stop;  // stop strings (model defaults added by the caller)
  bool ignore_eos = false;
  // GBNF text whose rule `root` the output must match ("" = unconstrained).
  // Only tokens that keep the output inside the grammar are sampled; an
  // end-of-generation token only where the output is complete. When it is
  // complete and nothing may follow, generation ends with stop_reason
  // "eos" (the grammar ended it, as the model's own end token would). With a
  // token limit (n_predict, or the context), tokens are chosen so that the
  // output can still be completed in the tokens left, whenever the limit
  // allows a complete output at all.
  std::string grammar;
};

// Parses opt.grammar (nullptr when empty); Error when it does not parse.
std::shared_ptr<const Grammar> parse_options_grammar(const GenerateOptions& opt);

// Tokens that can still be sampled at generation step k (the one now being
// sampled included) when pos positions of an n_ctx context are filled: the
// grammar's budget.
inline int grammar_token_limit(int n_predict, int k, int pos, int n_ctx) {
  const int ctx_left = n_ctx - pos + 1;
  return n_predict < 0 ? ctx_left : (n_predict - k < ctx_left ? n_predict - k : ctx_left);
}

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (the stop token not included)
  int n_prompt = 0;
  double prompt_seconds = 0;
  double gen_seconds = 0;
  std::string stop_reason;  // "eos" (also: the grammar completed), "stop", "length", "context"
};

// Clears the cache, feeds prompt (which must fit it) and samples up to n_predict tokens,
// calling on_text with text as soon as it is safe to show.
GenerateResult generate(const Engine& engine, KVCache& cache, const std::vector<int32_t>& prompt,
                        const GenerateOptions& opt, const std::function<void(const std::string&)>& on_text);

}  // namespace lineage
