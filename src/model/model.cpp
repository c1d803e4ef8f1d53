#include "model/model.h"

#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/arch.h"
#include "runtime/kv_cache.h"

namespace lineage {

Model::Model(std::shared_ptr<const GGUFFile> file, ModelConfig config)
    : file_(std::move(file)), config_(std::move(config)) {}

std::unique_ptr<Model> Model::load(std::shared_ptr<const GGUFFile> file, const LoadOptions& options) {
  if (!file) fail("Model::load: no file");
  std::optional<std::string> arch = file->get_string("general.architecture");
  if (!arch) fail(file->path(), ": missing metadata key general.architecture");
  if (*arch == "llama") return load_llama(std::move(file), options);
  if (*arch == "llama4") return load_llama4(std::move(file), options);
  fail(file->path(), ": architecture \"", *arch, "\" is not supported (supported: llama, llama4)");
}

void Model::check_forward_args(const int32_t* tokens, int n, int pos, const KVCache& cache,
                               const float* logits) const {
  const ModelConfig& c = config_;
  if (n <= 0) fail("forward: needs at least one token, got ", n);
  if (!tokens || !logits) fail("forward: null tokens or logits buffer");
  if (cache.n_layer() != c.n_layer || cache.head_dim() != c.head_dim)
    fail("forward: KV cache was made for another model (", cache.n_layer(), " layers, head size ", cache.head_dim(),
         "; this model has ", c.n_layer, " and ", c.head_dim, ")");
  const DevicePlacement here = placement();
  if (cache.device() != here.device.get() || (here.device && cache.first_device_layer() != here.first_layer))
    fail("forward: the KV cache was made for ", cache.device() ? "a model on a device" : "a model on the CPU",
         ", not for this one (make it with KVCache(model, n_ctx))");
  for (int l = 0; l < c.n_layer; ++l)
    if (cache.n_head_kv(l) != c.n_head_kv[l])
      fail("forward: KV cache was made for another model (layer ", l, " has ", cache.n_head_kv(l), " KV heads, not ",
           c.n_head_kv[l], ")");
  if (pos < 0 || pos > cache.n_past())
    fail("forward: position ", pos, " is not in [0, ", cache.n_past(), "] (the cache holds ", cache.n_past(),
         " positions)");
  if (n > cache.n_ctx() - pos)
    fail("forward: positions ", pos, "..", static_cast<int64_t>(pos) + n - 1, " do not fit the context of ",
         cache.n_ctx());
  for (int i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.n_vocab)
      fail("forward: token id ", tokens[i], " at index ", i, " is outside the vocabulary [0, ", c.n_vocab, ")");
}

void Model::check_batch_args(const SeqBatch* seqs, int n_seqs) const {
  if (n_seqs <= 0 || !seqs) fail("forward_batch: needs at least one sequence, got ", n_seqs);
  for (int i = 0; i < n_seqs; ++i) {
    const SeqBatch& s = seqs[i];
    if (!s.cache) fail("forward_batch: sequence ", i, " has no KV cache");
    for (int j = 0; j < i; ++j)
      if (seqs[j].cache == s.cache) fail("forward_batch: sequences ", j, " and ", i, " share one KV cache");
    // A missing logits buffer is allowed here; the shared check wants one.
    static const float dummy = 0;
    try {
      check_forward_args(s.tokens, s.n, s.pos, *s.cache, s.logits ? s.logits : &dummy);
    } catch (const Error& e) {
      fail("sequence ", i, ": ", e.what());
    }
  }
}

void Model::forward_batch(const SeqBatch* seqs, int n_seqs, ThreadPool& pool) const {
  check_batch_args(seqs, n_seqs);
  for (int i = 0; i < n_seqs; ++i)
    if (seqs[i].hidden)
      fail("forward_batch: architecture \"", config_.arch, "\" does not return hidden states (sequence ", i, ")");
  std::vector<float> scratch;
  for (int i = 0; i < n_seqs; ++i) {
    const SeqBatch& s = seqs[i];
    float* logits = s.logits;
    if (!logits) {
      scratch.resize(static_cast<size_t>(config_.n_vocab));
      logits = scratch.data();
    }
    forward(s.tokens, s.n, s.pos, *s.cache, logits, s.logits && s.all_logits, pool);
  }
}

void BatchedModel::forward(const int32_t* tokens, int n, int pos, KVCache& cache, float* logits, bool all_logits,
                           ThreadPool& pool) const {
  check_forward_args(tokens, n, pos, cache, logits);
  const SeqBatch one = one_sequence(tokens, n, pos, cache, logits, all_logits);
  run_batch(&one, 1, pool);
}

void BatchedModel::forward_batch(const SeqBatch* seqs, int n_seqs, ThreadPool& pool) const {
  check_batch_args(seqs, n_seqs);
  run_batch(seqs, n_seqs, pool);
}

SeqBatch Model::one_sequence(const int32_t* tokens, int n, int pos, KVCache& cache, float* logits, bool all_logits) {
  SeqBatch b;
  b.tokens = tokens;
  b.n = n;
  b.pos = pos;
  b.cache = &cache;
  b.logits = logits;
  b.all_logits = all_logits;
  return b;
}

}  // namespace lineage
