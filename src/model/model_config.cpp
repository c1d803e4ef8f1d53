#include "model/model_config.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "core/error.h"
#include "gguf/gguf.h"

namespace lineage {

namespace {

// Upper bounds far above any released model; they keep products of counts
// inside int and size_t, so a hostile file gets an Error instead of an
// overflow or a huge allocation.
constexpr int64_t kMaxEmbd = 1 << 17;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 1 << 12;
constexpr int64_t kMaxHeadDim = 1 << 12;
constexpr int64_t kMaxFf = 1 << 20;
constexpr int64_t kMaxVocab = 1 << 24;
constexpr int64_t kMaxExperts = 1 << 10;
constexpr int64_t kMaxCtx = int64_t{1} << 30;

class KeyReader {
 public:
  KeyReader(const GGUFFile& f, std::string arch) : f_(f), prefix_(std::move(arch) + ".") {}

  std::string key(const std::string& k) const { return prefix_ + k; }

  template <typename... Parts>
  [[noreturn]] void bad(const std::string& k, const Parts&... why) const {
    fail(f_.path(), ": metadata key ", key(k), " ", why...);
  }

  int64_t checked(const std::string& k, int64_t v, int64_t lo, int64_t hi) const {
    if (v < lo || v > hi) bad(k, "is ", v, ", outside [", lo, ", ", hi, "]");
    return v;
  }

  int integer(const std::string& k, int64_t lo, int64_t hi, std::optional<int64_t> dflt = std::nullopt) const {
    std::optional<int64_t> v = f_.get_int(key(k));
    if (!v) {
      if (!dflt) fail(f_.path(), ": missing metadata key ", key(k));
      return static_cast<int>(*dflt);
    }
    return static_cast<int>(checked(k, *v, lo, hi));
  }

  float real(const std::string& k, double lo, double hi, double dflt) const {
    std::optional<double> v = f_.get_float(key(k));
    if (!v) return static_cast<float>(dflt);
    if (!std::isfinite(*v) || *v < lo || *v > hi) bad(k, "is ", *v, ", outside [", lo, ", ", hi, "]");
    return static_cast<float>(*v);
  }

  // A key that is a scalar (the same for every layer) or an array with one
  // value per layer.
  std::vector<int> per_layer(const std::string& k, int n_layer, int64_t lo, int64_t hi,
                             std::optional<int64_t> dflt = std::nullopt) const {
    const GGUFValue* v = f_.find(key(k));
    if (v && v->is_array()) {
      const std::vector<int64_t>* a = f_.get_int_array(key(k));
      if (static_cast<int64_t>(a->size()) != n_layer)
        bad(k, "has ", a->size(), " values, but block_count is ", n_layer);
      std::vector<int> out;
      for (int64_t x : *a) out.push_back(static_cast<int>(checked(k, x, lo, hi)));
      return out;
    }
    return std::vector<int>(n_layer, integer(k, lo, hi, dflt));
  }

 private:
  const GGUFFile& f_;
  std::string prefix_;
};

}  // namespace

int ModelConfig::max_q_dim() const { return *std::max_element(n_head.begin(), n_head.end()) * head_dim; }
int ModelConfig::max_kv_dim() const { return *std::max_element(n_head_kv.begin(), n_head_kv.end()) * head_dim; }
int ModelConfig::max_ff() const { return *std::max_element(n_ff.begin(), n_ff.end()); }

ModelConfig read_model_config(const GGUFFile& file) {
  ModelConfig c;
  std::optional<std::string> arch = file.get_string("general.architecture");
  if (!arch) fail(file.path(), ": missing metadata key general.architecture");
  c.arch = *arch;
  c.name = file.get_string("general.name").value_or("");
  KeyReader r(file, c.arch);

  c.n_embd = r.integer("embedding_length", 1, kMaxEmbd);
  c.n_layer = r.integer("block_count", 1, kMaxLayers);
  c.n_ctx_train = r.integer("context_length", 1, kMaxCtx, 2048);
  c.n_head = r.per_layer("attention.head_count", c.n_layer, 1, kMaxHeads);
  c.n_head_kv = r.per_layer("attention.head_count_kv", c.n_layer, 1, kMaxHeads, c.n_head[0]);
  c.n_ff = r.per_layer("feed_forward_length", c.n_layer, 1, kMaxFf);

  // head_dim comes from key_length when the file states it, else from the
  // embedding split evenly over the first layer's heads.
  if (file.has(r.key("attention.key_length"))) {
    c.head_dim = r.integer("attention.key_length", 2, kMaxHeadDim);
    int v = r.integer("attention.value_length", 2, kMaxHeadDim, c.head_dim);
    if (v != c.head_dim)
      r.bad("attention.value_length", "is ", v, " but key_length is ", c.head_dim, "; lineage needs them equal");
  } else {
    if (c.n_embd % c.n_head[0] != 0)
      r.bad("attention.head_count", "is ", c.n_head[0], ", which does not divide embedding_length ", c.n_embd);
    c.head_dim = c.n_embd / c.n_head[0];
    if (c.head_dim > kMaxHeadDim) r.bad("attention.head_count", "gives a head size over ", kMaxHeadDim);
  }
  if (c.head_dim % 2 != 0) r.bad("attention.head_count", "gives an odd head size ", c.head_dim);
  for (int l = 0; l < c.n_layer; ++l) {
    if (c.n_head[l] % c.n_head_kv[l] != 0)
      r.bad("attention.head_count_kv", "is ", c.n_head_kv[l], " at layer ", l, ", which does not divide head_count ", c.n_head[l]);
    if (static_cast<int64_t>(c.n_head[l]) * c.head_dim > kMaxEmbd * 4)
      r.bad("attention.head_count", "is ", c.n_head[l], ", too many heads of size ", c.head_dim);
  }

  c.rope_dim = r.integer("rope.dimension_count", 2, c.head_dim, c.head_dim);
  if (c.rope_dim % 2 != 0) r.bad("rope.dimension_count", "is odd (", c.rope_dim, ")");
  c.rope_freq_base = r.real("rope.freq_base", 1e-3, 1e12, 10000.0);
  c.norm_eps = r.real("attention.layer_norm_rms_epsilon", 0.0, 1.0, 1e-5);

  std::string scaling = file.get_string(r.key("rope.scaling.type")).value_or("none");
  if (scaling == "linear") {
    c.rope_scale = r.real("rope.scaling.factor", 1e-6, 1e6, 1.0);
  } else if (scaling == "none") {
    // Files from before rope.scaling.type wrote the linear factor here.
    c.rope_scale = r.real("rope.scale_linear", 1e-6, 1e6, 1.0);
  } else {
    r.bad("rope.scaling.type", "is \"", scaling, "\"; lineage supports none and linear");
  }

  c.n_expert = r.integer("expert_count", 0, kMaxExperts, 0);
  if (c.n_expert > 0) {
    c.n_expert_used = r.integer("expert_used_count", 1, c.n_expert);
  } else if (r.integer("expert_used_count", 0, kMaxExperts, 0) != 0) {
    r.bad("expert_used_count", "is set but expert_count is 0");
  }
  c.sliding_window = r.integer("attention.sliding_window", 0, kMaxCtx, 0);

  // The vocabulary size is the row count of the embedding table; the key,
  // where present, must agree with it.
  if (const GGUFTensor* emb = file.find_tensor("token_embd.weight"); emb && emb->dims.size() == 2) {
    c.n_vocab = static_cast<int>(std::min<int64_t>(emb->dims[1], kMaxVocab + 1));
  }
  if (file.has(r.key("vocab_size"))) {
    int v = r.integer("vocab_size", 1, kMaxVocab);
    if (c.n_vocab != 0 && v != c.n_vocab)
      r.bad("vocab_size", "is ", v, " but token_embd.weight has ", c.n_vocab, " rows");
    c.n_vocab = v;
  }
  if (c.n_vocab <= 0 || c.n_vocab > kMaxVocab)
    fail(file.path(), ": cannot tell the vocabulary size (token_embd.weight missing or malformed)");
  return c;
}

}  // namespace lineage
