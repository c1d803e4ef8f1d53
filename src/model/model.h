// A loaded model: its hyper-parameters and a batched forward pass. Weights
// stay in the GGUF file's memory map; the model holds the file alive.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "model/model_config.h"

namespace lineage {

class Device;
class GGUFFile;
class KVCache;
class ThreadPool;

// Where a model runs: on the CPU, or its last n_gpu_layers layers and the
// output layer on a device (kernels/device.h), the rest on the CPU.
struct LoadOptions {
  int n_gpu_layers = 0;         // 0: CPU only; negative or >= the layer count: every layer
  std::string device = "cuda";  // open_device() spec: cuda, cuda:N, ref
};

// The layers a model keeps on a device: [first_layer, n_layer) on device,
// or none when device is null. KV caches follow the same split.
struct DevicePlacement {
  std::shared_ptr<Device> device;
  int first_layer = 0;
};

// One sequence's part of a multi-sequence forward pass: tokens[0..n) at
// positions pos .. pos+n-1 of its own cache (the same rules as forward()).
struct SeqBatch {
  const int32_t* tokens = nullptr;
  int n = 0;
  int pos = 0;
  KVCache* cache = nullptr;  // distinct for every sequence of one call
  // n_vocab floats per position when all_logits, else the last position's;
  // null when no logits are wanted (a prompt slice that is not the last).
  float* logits = nullptr;
  bool all_logits = false;
  // When not null: n * n_embd floats, the final normed hidden state of every
  // position (what the output matrix multiplies), for embeddings.
  float* hidden = nullptr;
};

class Model {
 public:
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Chooses the architecture from general.architecture, reads the
  // hyper-parameters and binds every tensor, checking presence, shape and
  // type; any mismatch is an Error naming the file and the tensor or key.
  static std::unique_ptr<Model> load(std::shared_ptr<const GGUFFile> file, const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const GGUFFile& file() const { return *file_; }
  const std::shared_ptr<const GGUFFile>& file_ptr() const { return file_; }
  // The device part of the model, if any; KV caches for it are made with
  // the same placement (KVCache(const Model&, n_ctx)).
  virtual DevicePlacement placement() const { return {}; }

  // Runs tokens[0..n) at positions pos .. pos+n-1, writing their keys and
  // values into the cache (pos must not exceed cache.n_past(); afterwards
  // n_past is pos + n). The whole batch goes through each layer at once.
  // logits receives n_vocab floats per position when all_logits, else only
  // the last position's. Bad token ids, positions past the cache, or a
  // cache made for another model are Errors; nothing is written then.
  virtual void forward(const int32_t* tokens, int n, int pos, KVCache& cache, float* logits, bool all_logits,
                       ThreadPool& pool) const = 0;

  // Runs several independent sequences in one pass. A sequence's results
  // are bitwise those forward() gives it alone, whatever else is in the
  // batch. Every sequence is checked before anything is written; a bad one
  // is an Error naming its index. This default runs forward() once per
  // sequence and supports no hidden-state output; architectures override it
  // to read each weight matrix once for all rows.
  virtual void forward_batch(const SeqBatch* seqs, int n_seqs, ThreadPool& pool) const;

 protected:
  Model(std::shared_ptr<const GGUFFile> file, ModelConfig config);
  // The argument checks every architecture's forward() starts with.
  void check_forward_args(const int32_t* tokens, int n, int pos, const KVCache& cache, const float* logits) const;
  // The same for every sequence of a batch (a null logits pointer is
  // allowed there), and no cache used twice.
  void check_batch_args(const SeqBatch* seqs, int n_seqs) const;
  // forward()'s arguments as a batch of one sequence, for architectures
  // whose batched pass does the work of both.
  static SeqBatch one_sequence(const int32_t* tokens, int n, int pos, KVCache& cache, float* logits, bool all_logits);

  std::shared_ptr<const GGUFFile> file_;
  ModelConfig config_;
};

// An architecture whose one pass serves both entry points: forward() is a
// batch of one sequence, and both check their arguments first.
class BatchedModel : public Model {
 public:
  void forward(const int32_t* tokens, int n, int pos, KVCache& cache, float* logits, bool all_logits,
               ThreadPool& pool) const final;
  void forward_batch(const SeqBatch* seqs, int n_seqs, ThreadPool& pool) const final;

 protected:
  using Model::Model;
  // Runs checked sequences.
  virtual void run_batch(const SeqBatch* seqs, int n_seqs, ThreadPool& pool) const = 0;
};

}  // namespace lineage
