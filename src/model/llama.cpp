// Arch `llama`: LLaMA 1/2/3.x, Mistral (sliding window) and Mixtral (MoE).
// Three parts: read the hyper-parameters, bind the tensors, run the
// forward pass.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/type_traits.h"
#include "model/arch.h"
#include "model/model.h"
#include "model/tensor_binding.h"
#include "nn/attention.h"
#include "nn/ffn.h"
#include "nn/moe.h"
#include "nn/rmsnorm.h"
#include "nn/rope.h"
#include "nn/vec.h"
#include "runtime/kv_cache.h"

namespace lineage {

namespace {

// ---- Part 1: hyper-parameters ----------------------------------------------

ModelConfig read_llama_config(const GGUFFile& file) {
  ModelConfig c = read_model_config(file);
  if (c.arch != "llama") fail(file.path(), ": architecture is \"", c.arch, "\", expected \"llama\"");
  return c;
}

// ---- Part 2: tensors ---------------------------------------------------------

struct LlamaLayer {
  std::vector<float> attn_norm;  // [n_embd]
  Matrix wq;                     // [n_head * head_dim rows][n_embd]
  Matrix wk;                     // [n_head_kv * head_dim rows][n_embd]
  Matrix wv;                     // [n_head_kv * head_dim rows][n_embd]
  Matrix wo;                     // [n_embd rows][n_head * head_dim]
  std::vector<float> ffn_norm;   // [n_embd]
  FfnWeights ffn;                // dense layers
  MoeWeights moe;                // when n_expert > 0
};

struct LlamaWeights {
  Matrix tok_embd;                  // [n_vocab rows][n_embd]
  std::vector<float> output_norm;   // [n_embd]
  Matrix output;                    // [n_vocab rows][n_embd]; token_embd when tied
  std::vector<float> rope_factors;  // [rope_dim / 2], or empty
  std::vector<LlamaLayer> layers;   // [n_layer]
};

LlamaWeights bind_llama_tensors(const GGUFFile& file, const ModelConfig& c) {
  TensorBinder b(file);
  LlamaWeights w;
  w.tok_embd = b.matrix("token_embd.weight", c.n_vocab, c.n_embd);
  w.output_norm = b.vector("output_norm.weight", c.n_embd);
  // Models with tied embeddings ship no output matrix and reuse the table.
  w.output = b.has("output.weight") ? b.matrix("output.weight", c.n_vocab, c.n_embd) : w.tok_embd;
  if (b.has("rope_freqs.weight")) {
    w.rope_factors = b.vector("rope_freqs.weight", c.rope_dim / 2);
    for (float f : w.rope_factors)
      if (!(f > 0) || !std::isfinite(f)) fail(file.path(), ": tensor rope_freqs.weight holds the factor ", f);
  }

  for (int l = 0; l < c.n_layer; ++l) {
    std::string p = "blk.";
    p += std::to_string(l);
    p += '.';
    LlamaLayer L;
    L.attn_norm = b.vector(p + "attn_norm.weight", c.n_embd);
    L.wq = b.matrix(p + "attn_q.weight", c.q_dim(l), c.n_embd);
    L.wk = b.matrix(p + "attn_k.weight", c.kv_dim(l), c.n_embd);
    L.wv = b.matrix(p + "attn_v.weight", c.kv_dim(l), c.n_embd);
    L.wo = b.matrix(p + "attn_output.weight", c.n_embd, c.q_dim(l));
    L.ffn_norm = b.vector(p + "ffn_norm.weight", c.n_embd);
    const int ff = c.n_ff[l];
    if (c.n_expert == 0) {
      L.ffn.gate = b.matrix(p + "ffn_gate.weight", ff, c.n_embd);
      L.ffn.up = b.matrix(p + "ffn_up.weight", ff, c.n_embd);
      L.ffn.down = b.matrix(p + "ffn_down.weight", c.n_embd, ff);
    } else {
      L.moe.router = b.matrix(p + "ffn_gate_inp.weight", c.n_expert, c.n_embd);
      L.moe.n_expert_used = c.n_expert_used;
      L.moe.experts.resize(c.n_expert);
      if (b.has(p + "ffn_gate_exps.weight") || !b.has(p + "ffn_gate.0.weight")) {
        std::vector<Matrix> g = b.stacked(p + "ffn_gate_exps.weight", c.n_expert, ff, c.n_embd);
        std::vector<Matrix> u = b.stacked(p + "ffn_up_exps.weight", c.n_expert, ff, c.n_embd);
        std::vector<Matrix> d = b.stacked(p + "ffn_down_exps.weight", c.n_expert, c.n_embd, ff);
        for (int e = 0; e < c.n_expert; ++e) L.moe.experts[e] = FfnWeights{g[e], u[e], d[e]};
      } else {
        // Older Mixtral files: one tensor per expert.
        for (int e = 0; e < c.n_expert; ++e) {
          std::string s = ".";
          s += std::to_string(e);
          s += ".weight";
          L.moe.experts[e].gate = b.matrix(p + "ffn_gate" + s, ff, c.n_embd);
          L.moe.experts[e].up = b.matrix(p + "ffn_up" + s, ff, c.n_embd);
          L.moe.experts[e].down = b.matrix(p + "ffn_down" + s, c.n_embd, ff);
        }
      }
    }
    w.layers.push_back(std::move(L));
  }
  return w;
}

// ---- Part 3: forward pass ---------------------------------------------------

// Prompts longer than this go through the layers in slices of this many
// tokens; results do not change (every kernel reduces in a fixed order per
// row) and activation memory stays bounded.
constexpr int kMaxBatch = 512;

// Activations of one slice, allocated once per forward() call.
struct Scratch {
  std::vector<float> x;       // [nb][n_embd] residual stream
  std::vector<float> xn;      // [nb][n_embd] normed input of a block
  std::vector<float> q;       // [nb][max_q_dim]
  std::vector<float> k;       // [nb][max_kv_dim]
  std::vector<float> v;       // [nb][max_kv_dim]
  std::vector<float> att;     // [nb][max_q_dim]
  std::vector<float> tmp;     // [nb][n_embd] output of a block
  std::vector<float> gate;    // [nb][max_ff]
  std::vector<float> up;      // [nb][max_ff]
  std::vector<float> rope;    // [nb][rope_dim] cos/sin table
  std::vector<float> scores;  // [threads][n_keys]

  Scratch(const ModelConfig& c, int nb, int n_keys, int threads)
      : x(static_cast<size_t>(nb) * c.n_embd),
        xn(x.size()),
        q(static_cast<size_t>(nb) * c.max_q_dim()),
        k(static_cast<size_t>(nb) * c.max_kv_dim()),
        v(k.size()),
        att(q.size()),
        tmp(x.size()),
        gate(c.n_expert ? 0 : static_cast<size_t>(nb) * c.max_ff()),
        up(gate.size()),
        rope(static_cast<size_t>(nb) * c.rope_dim),
        scores(static_cast<size_t>(threads) * n_keys) {}
};

class LlamaModel final : public Model {
 public:
  LlamaModel(std::shared_ptr<const GGUFFile> file, ModelConfig config, LlamaWeights w)
      : Model(std::move(file), std::move(config)),
        w_(std::move(w)),
        rope_(config_.rope_dim, config_.rope_freq_base, 1.0 / config_.rope_scale, w_.rope_factors) {}

  void forward(const int32_t* tokens, int n, int pos, KVCache& cache, float* logits, bool all_logits,
               ThreadPool& pool) const override {
    check_forward_args(tokens, n, pos, cache, logits);
    // Positions from pos on are about to be overwritten; should anything
    // fail midway the cache must not claim them.
    cache.truncate(pos);
    const ModelConfig& c = config_;
    const int nb_max = std::min(n, kMaxBatch);
    Scratch s(c, nb_max, pos + n, pool.size());
    for (int c0 = 0; c0 < n; c0 += kMaxBatch) {
      const int nb = std::min(kMaxBatch, n - c0);
      run_layers(tokens + c0, nb, pos + c0, cache, s, pool);
      cache.set_n_past(pos + c0 + nb);
      if (all_logits) {
        rmsnorm(s.x.data(), w_.output_norm.data(), s.xn.data(), nb, c.n_embd, c.norm_eps);
        apply(w_.output, s.xn.data(), nb, logits + static_cast<size_t>(c0) * c.n_vocab, pool);
      } else if (c0 + nb == n) {
        const float* last = s.x.data() + static_cast<size_t>(nb - 1) * c.n_embd;
        rmsnorm(last, w_.output_norm.data(), s.xn.data(), 1, c.n_embd, c.norm_eps);
        apply(w_.output, s.xn.data(), 1, logits, pool);
      }
    }
  }

 private:
  void embed(const int32_t* tokens, int nb, float* x) const {
    const Matrix& e = w_.tok_embd;
    const TypeTraits* tr = type_traits(e.type);
    for (int t = 0; t < nb; ++t) tr->to_float(e.row(tokens[t]), x + static_cast<size_t>(t) * e.cols, e.cols);
  }

  // Runs one slice through every layer, leaving the residual stream in s.x.
  void run_layers(const int32_t* tokens, int nb, int pos0, KVCache& cache, Scratch& s, ThreadPool& pool) const {
    const ModelConfig& c = config_;
    const int64_t d = c.head_dim, n_ctx = cache.n_ctx();
    float* x = s.x.data();
    embed(tokens, nb, x);
    rope_.fill(pos0, nb, s.rope.data());

    for (int l = 0; l < c.n_layer; ++l) {
      const LlamaLayer& L = w_.layers[l];
      const int qd = c.q_dim(l), kvd = c.kv_dim(l);

      rmsnorm(x, L.attn_norm.data(), s.xn.data(), nb, c.n_embd, c.norm_eps);
      apply(L.wq, s.xn.data(), nb, s.q.data(), pool);
      apply(L.wk, s.xn.data(), nb, s.k.data(), pool);
      apply(L.wv, s.xn.data(), nb, s.v.data(), pool);
      float* kc = cache.k(l);
      float* vc = cache.v(l);
      for (int t = 0; t < nb; ++t) {
        const float* rt = s.rope.data() + static_cast<size_t>(t) * c.rope_dim;
        float* qt = s.q.data() + static_cast<size_t>(t) * qd;
        float* kt = s.k.data() + static_cast<size_t>(t) * kvd;
        const float* vt = s.v.data() + static_cast<size_t>(t) * kvd;
        Rope::apply(qt, c.n_head[l], c.head_dim, c.rope_dim, rt);
        Rope::apply(kt, c.n_head_kv[l], c.head_dim, c.rope_dim, rt);
        for (int h = 0; h < c.n_head_kv[l]; ++h) {
          const size_t at = (h * n_ctx + pos0 + t) * d;
          std::memcpy(kc + at, kt + h * d, d * sizeof(float));
          std::memcpy(vc + at, vt + h * d, d * sizeof(float));
        }
      }
      const AttentionShape shape{c.n_head[l], c.n_head_kv[l], c.head_dim, c.sliding_window};
      attention(shape, s.q.data(), kc, vc, n_ctx, pos0, nb, s.att.data(), s.scores.data(), pool);
      apply(L.wo, s.att.data(), nb, s.tmp.data(), pool);
      add_f32(s.tmp.data(), x, static_cast<int64_t>(nb) * c.n_embd);

      rmsnorm(x, L.ffn_norm.data(), s.xn.data(), nb, c.n_embd, c.norm_eps);
      if (c.n_expert > 0)
        moe_ffn(L.moe, s.xn.data(), nb, c.n_embd, s.tmp.data(), pool);
      else
        swiglu_ffn(L.ffn, s.xn.data(), nb, s.tmp.data(), s.gate.data(), s.up.data(), pool);
      add_f32(s.tmp.data(), x, static_cast<int64_t>(nb) * c.n_embd);
    }
  }

  LlamaWeights w_;
  Rope rope_;
};

}  // namespace

std::unique_ptr<Model> load_llama(std::shared_ptr<const GGUFFile> file) {
  ModelConfig config = read_llama_config(*file);
  LlamaWeights w = bind_llama_tensors(*file, config);
  // The matrix kernels read some types in a row-interleaved layout; packing
  // once here saves rearranging the weights for every token.
  for (LlamaLayer& L : w.layers) {
    for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn.gate, &L.ffn.up, &L.ffn.down}) prepack(*m, true);
    for (FfnWeights& e : L.moe.experts)
      for (Matrix* m : {&e.gate, &e.up, &e.down}) prepack(*m, true);
  }
  prepack(w.output, true);
  return std::make_unique<LlamaModel>(std::move(file), std::move(config), std::move(w));
}

}  // namespace lineage
