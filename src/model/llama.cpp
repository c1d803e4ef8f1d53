// Arch `llama`: LLaMA 1/2/3.x, Mistral (sliding window) and Mixtral (MoE).
// Three parts: read the hyper-parameters, bind the tensors, run the
// forward pass.
#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/arch.h"
#include "model/forward_slices.h"
#include "model/llama.h"
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

// ---- Part 1: hyper-parameters ----------------------------------------------

ModelConfig read_llama_config(const GGUFFile& file) {
  ModelConfig c = read_model_config(file);
  if (c.arch != "llama") fail(file.path(), ": architecture is \"", c.arch, "\", expected \"llama\"");
  return c;
}

// ---- Part 2: tensors ---------------------------------------------------------

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

void llama_cpu_inputs(const ModelConfig& c, const LlamaWeights& w, const Rope& rope, const SeqBatch* seqs,
                      const std::vector<Segment>& segs, ForwardScratch& s) {
  for (const Segment& g : segs) {
    const SeqBatch& b = seqs[g.seq];
    embed_rows(w.tok_embd, b.tokens + g.off, g.n, s.x.data() + static_cast<size_t>(g.row0) * c.n_embd);
    rope.fill(b.pos + g.off, g.n, s.rope.data() + static_cast<size_t>(g.row0) * c.rope_dim);
  }
}

// Matrix products take all rows at once; RoPE, the cache writes and
// attention go per sequence, with its own positions and cache.
void llama_cpu_layers(const ModelConfig& c, const LlamaWeights& w, const SeqBatch* seqs,
                      const std::vector<Segment>& segs, int nb, ForwardScratch& s, ThreadPool& pool, int l0, int l1) {
  float* x = s.x.data();
  std::vector<AttentionSeq> att;
  for (int l = l0; l < l1; ++l) {
    const LlamaLayer& L = w.layers[l];
    const int qd = c.q_dim(l), kvd = c.kv_dim(l);

    rmsnorm(x, L.attn_norm.data(), s.xn.data(), nb, c.n_embd, c.norm_eps);
    apply(L.wq, s.xn.data(), nb, s.q.data(), pool);
    apply(L.wk, s.xn.data(), nb, s.k.data(), pool);
    apply(L.wv, s.xn.data(), nb, s.v.data(), pool);
    const AttentionShape shape{c.n_head[l], c.n_head_kv[l], c.head_dim, c.sliding_window};
    att.clear();
    for (const Segment& g : segs) {
      KVCache& cache = *seqs[g.seq].cache;
      const int64_t pos0 = seqs[g.seq].pos + g.off;
      for (int t = g.row0; t < g.row0 + g.n; ++t) {
        const float* rt = s.rope.data() + static_cast<size_t>(t) * c.rope_dim;
        float* qt = s.q.data() + static_cast<size_t>(t) * qd;
        float* kt = s.k.data() + static_cast<size_t>(t) * kvd;
        Rope::apply(qt, c.n_head[l], c.head_dim, c.rope_dim, rt);
        Rope::apply(kt, c.n_head_kv[l], c.head_dim, c.rope_dim, rt);
        store_kv(cache, l, c.n_head_kv[l], c.head_dim, pos0 + (t - g.row0), kt,
                 s.v.data() + static_cast<size_t>(t) * kvd);
      }
      const size_t r0 = static_cast<size_t>(g.row0) * qd;
      att.push_back(AttentionSeq{s.q.data() + r0, cache.k(l), cache.v(l), cache.n_ctx(), pos0, g.n, s.att.data() + r0});
    }
    attention_multi(shape, att.data(), static_cast<int>(att.size()), pool);
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

namespace {

class LlamaModel final : public BatchedModel {
 public:
  LlamaModel(std::shared_ptr<const GGUFFile> file, ModelConfig config, LlamaWeights w)
      : BatchedModel(std::move(file), std::move(config)),
        w_(std::move(w)),
        rope_(config_.rope_dim, config_.rope_freq_base, 1.0 / config_.rope_scale, w_.rope_factors) {}

 private:
  void run_batch(const SeqBatch* seqs, int n_seqs, ThreadPool& pool) const override {
    run_slices(
        config_, seqs, n_seqs, config_.n_expert == 0, w_.output_norm, w_.output,
        [&](const std::vector<Segment>& segs, int rows, ForwardScratch& s) {
          llama_cpu_inputs(config_, w_, rope_, seqs, segs, s);
          llama_cpu_layers(config_, w_, seqs, segs, rows, s, pool, 0, config_.n_layer);
        },
        pool);
  }

  LlamaWeights w_;
  Rope rope_;
};

}  // namespace

std::unique_ptr<Model> load_llama(std::shared_ptr<const GGUFFile> file, const LoadOptions& options) {
  ModelConfig config = read_llama_config(*file);
  LlamaWeights w = bind_llama_tensors(*file, config);
  if (options.n_gpu_layers != 0) return make_llama_device_model(std::move(file), std::move(config), std::move(w), options);
  // The matrix kernels read some types in a row-interleaved layout; packing
  // once here saves rearranging the weights for every token.
  for (LlamaLayer& L : w.layers) prepack_layer(L);
  prepack(w.output, true);
  return std::make_unique<LlamaModel>(std::move(file), std::move(config), std::move(w));
}

void prepack_layer(LlamaLayer& L) {
  for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn.gate, &L.ffn.up, &L.ffn.down}) prepack(*m, true);
  for (FfnWeights& e : L.moe.experts)
    for (Matrix* m : {&e.gate, &e.up, &e.down}) prepack(*m, true);
}

}  // namespace lineage
