// The one API the front ends use: a loaded model with its tokenizer and a
// thread pool, and generation over a KV cache with streaming text output.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "runtime/kv_cache.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace lineage {

class Engine {
 public:
  // Opens and validates the file, binds the model and (when the file has a
  // vocabulary) the tokenizer.
  static std::unique_ptr<Engine> load(const std::string& path, int n_threads);

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

 private:
  std::shared_ptr<const GGUFFile> file_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  double load_seconds_ = 0;
};

struct GenerateOptions {
  int n_predict = 128;  // < 0: until the context is full
  int n_batch = 512;    // prompt tokens per forward pass
  SamplerParams sampling;
  std::vector<std::string> stop;  // stop strings (model defaults added by the caller)
  bool ignore_eos = false;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (the stop token not included)
  int n_prompt = 0;
  double prompt_seconds = 0;
  double gen_seconds = 0;
  std::string stop_reason;  // "eos", "stop", "length", "context"
};

// Clears the cache, feeds prompt (which must fit it) and samples up to n_predict tokens,
// calling on_text with text as soon as it is safe to show.
GenerateResult generate(const Engine& engine, KVCache& cache, const std::vector<int32_t>& prompt,
                        const GenerateOptions& opt, const std::function<void(const std::string&)>& on_text);

}  // namespace lineage
