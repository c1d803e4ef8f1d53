// A loaded model: its hyper-parameters and a batched forward pass. Weights
// stay in the GGUF file's memory map; the model holds the file alive.
#pragma once
#include <cstdint>
#include <memory>

#include "model/model_config.h"

namespace lineage {

class GGUFFile;
class KVCache;
class ThreadPool;

class Model {
 public:
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Chooses the architecture from general.architecture, reads the
  // hyper-parameters and binds every tensor, checking presence, shape and
  // type; any mismatch is an Error naming the file and the tensor or key.
  static std::unique_ptr<Model> load(std::shared_ptr<const GGUFFile> file);

  const ModelConfig& config() const { return config_; }
  const GGUFFile& file() const { return *file_; }
  const std::shared_ptr<const GGUFFile>& file_ptr() const { return file_; }

  // Runs tokens[0..n) at positions pos .. pos+n-1, writing their keys and
  // values into the cache (pos must not exceed cache.n_past(); afterwards
  // n_past is pos + n). The whole batch goes through each layer at once.
  // logits receives n_vocab floats per position when all_logits, else only
  // the last position's. Bad token ids, positions past the cache, or a
  // cache made for another model are Errors; nothing is written then.
  virtual void forward(const int32_t* tokens, int n, int pos, KVCache& cache, float* logits, bool all_logits,
                       ThreadPool& pool) const = 0;

 protected:
  Model(std::shared_ptr<const GGUFFile> file, ModelConfig config);
  // The argument checks every architecture's forward() starts with.
  void check_forward_args(const int32_t* tokens, int n, int pos, const KVCache& cache, const float* logits) const;

  std::shared_ptr<const GGUFFile> file_;
  ModelConfig config_;
};

}  // namespace lineage
