// Arch `llama4`: Llama 4 Scout and Maverick (text). Three parts: read the
// hyper-parameters, bind the tensors, run the forward pass.
//
// What sets it apart from arch `llama`:
// - layer i is a mixture of experts iff (i + 1) % interleave_moe_layer_step
//   == 0 (moe_sigmoid.h routing plus a shared expert), a dense SwiGLU of
//   feed_forward_length otherwise; experts are expert_feed_forward_length
//   wide;
// - RoPE layers attend only within their chunk of the sequence and, with
//   QK norm, RMS-normalize each head of Q and K (no weight) after RoPE;
// - NoPE layers apply no rotation, attend to the whole past, and scale Q by
//   log(floor((pos + 1) / floor_scale) + 1) * attn_scale + 1.
//
// Published Llama 4 GGUF files carry no keys for the last two points (the
// common engine hard-codes them), so lineage reads its own keys, which
// `lineage convert` writes from config.json, and falls back to the released
// models' values when they are absent:
//   llama4.attention.chunk_size          u32   8192; 0 = every layer sees the whole past
//   llama4.no_rope_layers                [u32] per layer, as config.json's no_rope_layers:
//                                              1 = RoPE (and chunked), 0 = NoPE;
//                                              default 0 for every 4th layer (3, 7, ...)
//   llama4.attention.temperature_tuning  bool  true
//   llama4.attention.floor_scale         f32   8192
//   llama4.attention.attn_scale          f32   0.1
//   llama4.use_qk_norm                   bool  true, but false for 128 experts (Maverick)
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/arch.h"
#include "model/forward_slices.h"
#include "model/model.h"
#include "model/tensor_binding.h"
#include "nn/attention.h"
#include "nn/ffn.h"
#include "nn/moe_sigmoid.h"
#include "nn/rmsnorm.h"
#include "nn/rope.h"
#include "nn/vec.h"
#include "runtime/kv_cache.h"

namespace lineage {

namespace {

// ---- Part 1: hyper-parameters ----------------------------------------------

struct Llama4Params {
  int moe_step = 1;              // layer i is MoE iff (i + 1) % moe_step == 0
  int n_ff_expert = 0;           // width of each expert and of the shared expert
  int chunk = 8192;              // 0: no chunking
  std::vector<bool> use_rope;    // [n_layer]
  bool temperature_tuning = true;
  float floor_scale = 8192.0f;
  float attn_scale = 0.1f;
  bool qk_norm = true;

  bool is_moe(const ModelConfig& c, int l) const { return c.n_expert > 0 && (l + 1) % moe_step == 0; }
};

int64_t int_key(const GGUFFile& f, const std::string& k, int64_t lo, int64_t hi, int64_t dflt) {
  std::optional<int64_t> v = f.get_int(k);
  if (!v) return dflt;
  if (*v < lo || *v > hi) fail(f.path(), ": metadata key ", k, " is ", *v, ", outside [", lo, ", ", hi, "]");
  return *v;
}

float float_key(const GGUFFile& f, const std::string& k, double lo, double hi, double dflt) {
  std::optional<double> v = f.get_float(k);
  if (!v) return static_cast<float>(dflt);
  if (!std::isfinite(*v) || *v < lo || *v > hi)
    fail(f.path(), ": metadata key ", k, " is ", *v, ", outside [", lo, ", ", hi, "]");
  return static_cast<float>(*v);
}

Llama4Params read_llama4_params(const GGUFFile& f, const ModelConfig& c) {
  Llama4Params p;
  p.moe_step = static_cast<int>(int_key(f, "llama4.interleave_moe_layer_step", 1, c.n_layer, 1));
  if (c.n_expert > 0) {
    if (!f.has("llama4.expert_feed_forward_length"))
      fail(f.path(), ": missing metadata key llama4.expert_feed_forward_length");
    p.n_ff_expert = static_cast<int>(int_key(f, "llama4.expert_feed_forward_length", 1, 1 << 20, 0));
  }
  p.chunk = static_cast<int>(int_key(f, "llama4.attention.chunk_size", 0, int64_t{1} << 30, 8192));
  if (const std::vector<int64_t>* a = f.get_int_array("llama4.no_rope_layers")) {
    if (static_cast<int64_t>(a->size()) != c.n_layer)
      fail(f.path(), ": metadata key llama4.no_rope_layers has ", a->size(), " values, but block_count is ", c.n_layer);
    for (int64_t x : *a) {
      if (x != 0 && x != 1)
        fail(f.path(), ": metadata key llama4.no_rope_layers holds ", x, " (1 = RoPE layer, 0 = NoPE layer)");
      p.use_rope.push_back(x == 1);
    }
  } else {
    for (int l = 0; l < c.n_layer; ++l) p.use_rope.push_back((l + 1) % 4 != 0);
  }
  p.temperature_tuning = f.get_bool("llama4.attention.temperature_tuning").value_or(true);
  p.floor_scale = float_key(f, "llama4.attention.floor_scale", 1e-6, 1e12, 8192.0);
  p.attn_scale = float_key(f, "llama4.attention.attn_scale", -1e6, 1e6, 0.1);
  // The common engine turns QK norm off for the 128-expert model (Maverick).
  p.qk_norm = f.get_bool("llama4.use_qk_norm").value_or(c.n_expert != 128);
  return p;
}

ModelConfig read_llama4_config(const GGUFFile& file) {
  ModelConfig c = read_model_config(file);
  if (c.arch != "llama4") fail(file.path(), ": architecture is \"", c.arch, "\", expected \"llama4\"");
  return c;
}

// ---- Part 2: tensors ---------------------------------------------------------

struct Llama4Layer {
  std::vector<float> attn_norm;  // [n_embd]
  Matrix wq;                     // [n_head * head_dim rows][n_embd]
  Matrix wk;                     // [n_head_kv * head_dim rows][n_embd]
  Matrix wv;                     // [n_head_kv * head_dim rows][n_embd]
  Matrix wo;                     // [n_embd rows][n_head * head_dim]
  std::vector<float> ffn_norm;   // [n_embd]
  FfnWeights ffn;                // dense layers: [n_ff rows][n_embd] ...
  MoeWeights moe;                // MoE layers: router [n_expert rows][n_embd], experts [n_ff_expert rows][n_embd] ...
  FfnWeights shared;             // MoE layers: [n_ff_expert rows][n_embd] ...
};

struct Llama4Weights {
  Matrix tok_embd;                  // [n_vocab rows][n_embd]
  std::vector<float> output_norm;   // [n_embd]
  Matrix output;                    // [n_vocab rows][n_embd]; token_embd when tied
  std::vector<float> rope_factors;  // [rope_dim / 2], or empty
  std::vector<Llama4Layer> layers;  // [n_layer]
};

FfnWeights bind_ffn(const TensorBinder& b, const std::string& p, const std::string& suffix, int64_t ff, int64_t embd) {
  FfnWeights w;
  w.gate = b.matrix(p + "ffn_gate" + suffix + ".weight", ff, embd);
  w.up = b.matrix(p + "ffn_up" + suffix + ".weight", ff, embd);
  w.down = b.matrix(p + "ffn_down" + suffix + ".weight", embd, ff);
  return w;
}

Llama4Weights bind_llama4_tensors(const GGUFFile& file, const ModelConfig& c, const Llama4Params& hp) {
  TensorBinder b(file);
  Llama4Weights w;
  w.tok_embd = b.matrix("token_embd.weight", c.n_vocab, c.n_embd);
  w.output_norm = b.vector("output_norm.weight", c.n_embd);
  w.output = b.has("output.weight") ? b.matrix("output.weight", c.n_vocab, c.n_embd) : w.tok_embd;
  if (b.has("rope_freqs.weight")) {
    w.rope_factors = b.vector("rope_freqs.weight", c.rope_dim / 2);
    for (float f : w.rope_factors)
      if (!(f > 0) || !std::isfinite(f)) fail(file.path(), ": tensor rope_freqs.weight holds the factor ", f);
  }
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Llama4Layer L;
    L.attn_norm = b.vector(p + "attn_norm.weight", c.n_embd);
    L.wq = b.matrix(p + "attn_q.weight", c.q_dim(l), c.n_embd);
    L.wk = b.matrix(p + "attn_k.weight", c.kv_dim(l), c.n_embd);
    L.wv = b.matrix(p + "attn_v.weight", c.kv_dim(l), c.n_embd);
    L.wo = b.matrix(p + "attn_output.weight", c.n_embd, c.q_dim(l));
    L.ffn_norm = b.vector(p + "ffn_norm.weight", c.n_embd);
    if (!hp.is_moe(c, l)) {
      L.ffn = bind_ffn(b, p, "", c.n_ff[l], c.n_embd);
    } else {
      const int ff = hp.n_ff_expert;
      L.moe.router = b.matrix(p + "ffn_gate_inp.weight", c.n_expert, c.n_embd);
      L.moe.n_expert_used = c.n_expert_used;
      std::vector<Matrix> g = b.stacked(p + "ffn_gate_exps.weight", c.n_expert, ff, c.n_embd);
      std::vector<Matrix> u = b.stacked(p + "ffn_up_exps.weight", c.n_expert, ff, c.n_embd);
      std::vector<Matrix> d = b.stacked(p + "ffn_down_exps.weight", c.n_expert, c.n_embd, ff);
      for (int e = 0; e < c.n_expert; ++e) L.moe.experts.push_back(FfnWeights{g[e], u[e], d[e]});
      L.shared = bind_ffn(b, p, "_shexp", ff, c.n_embd);
    }
    w.layers.push_back(std::move(L));
  }
  return w;
}

// ---- Part 3: forward pass ---------------------------------------------------

// x / sqrt(mean(x^2) + eps) over each of `rows` rows of n floats, in place.
void unit_rmsnorm(float* x, int64_t rows, int64_t n, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
    for (int64_t i = 0; i < n; ++i) xr[i] *= scale;
  }
}

class Llama4Model final : public BatchedModel {
 public:
  Llama4Model(std::shared_ptr<const GGUFFile> file, ModelConfig config, Llama4Params hp, Llama4Weights w)
      : BatchedModel(std::move(file), std::move(config)),
        hp_(std::move(hp)),
        w_(std::move(w)),
        rope_(config_.rope_dim, config_.rope_freq_base, 1.0 / config_.rope_scale, w_.rope_factors) {}

 private:
  void run_batch(const SeqBatch* seqs, int n_seqs, ThreadPool& pool) const override {
    run_slices(
        config_, seqs, n_seqs, true, w_.output_norm, w_.output,
        [&](const std::vector<Segment>& segs, int rows, ForwardScratch& s) { run_layers(seqs, segs, rows, s, pool); },
        pool);
  }

  // Q of a NoPE layer is scaled up with the position so attention stays
  // sharp over long contexts (computed in float, as the reference does).
  float temperature(int64_t pos) const {
    return std::log1p(std::floor((static_cast<float>(pos) + 1.0f) / hp_.floor_scale)) * hp_.attn_scale + 1.0f;
  }

  // Attention entries for rows of one sequence at positions pos0 .. pos0+n-1
  // of a layer's cache. In a chunked layer each run of rows inside one chunk
  // attends from the chunk's first key, so the cache is viewed from there
  // (its layout keeps head strides intact).
  void add_attention(bool chunked, int qd, const float* q, const float* kc, const float* vc, int64_t n_ctx,
                     int64_t pos0, int64_t n, float* out, std::vector<AttentionSeq>& att) const {
    if (!chunked) {
      att.push_back(AttentionSeq{q, kc, vc, n_ctx, pos0, n, out});
      return;
    }
    const int64_t C = hp_.chunk, d = config_.head_dim;
    for (int64_t t0 = 0; t0 < n;) {
      const int64_t start = (pos0 + t0) / C * C;
      const int64_t t1 = std::min(n, start + C - pos0);
      att.push_back(AttentionSeq{q + t0 * qd, kc + start * d, vc + start * d, n_ctx, pos0 + t0 - start, t1 - t0,
                                 out + t0 * qd});
      t0 = t1;
    }
  }

  void run_layers(const SeqBatch* seqs, const std::vector<Segment>& segs, int nb, ForwardScratch& s,
                  ThreadPool& pool) const {
    const ModelConfig& c = config_;
    const int64_t d = c.head_dim;
    float* x = s.x.data();
    std::vector<AttentionSeq> att;
    for (const Segment& g : segs) {
      const SeqBatch& b = seqs[g.seq];
      embed_rows(w_.tok_embd, b.tokens + g.off, g.n, x + static_cast<size_t>(g.row0) * c.n_embd);
      rope_.fill(b.pos + g.off, g.n, s.rope.data() + static_cast<size_t>(g.row0) * c.rope_dim);
    }

    for (int l = 0; l < c.n_layer; ++l) {
      const Llama4Layer& L = w_.layers[l];
      const int qd = c.q_dim(l), kvd = c.kv_dim(l);
      const bool rope = hp_.use_rope[l];

      rmsnorm(x, L.attn_norm.data(), s.xn.data(), nb, c.n_embd, c.norm_eps);
      apply(L.wq, s.xn.data(), nb, s.q.data(), pool);
      apply(L.wk, s.xn.data(), nb, s.k.data(), pool);
      apply(L.wv, s.xn.data(), nb, s.v.data(), pool);
      att.clear();
      for (const Segment& g : segs) {
        KVCache& cache = *seqs[g.seq].cache;
        const int64_t pos0 = seqs[g.seq].pos + g.off;
        for (int t = g.row0; t < g.row0 + g.n; ++t) {
          float* qt = s.q.data() + static_cast<size_t>(t) * qd;
          float* kt = s.k.data() + static_cast<size_t>(t) * kvd;
          if (rope) {
            const float* rt = s.rope.data() + static_cast<size_t>(t) * c.rope_dim;
            Rope::apply(qt, c.n_head[l], c.head_dim, c.rope_dim, rt);
            Rope::apply(kt, c.n_head_kv[l], c.head_dim, c.rope_dim, rt);
            if (hp_.qk_norm) {
              unit_rmsnorm(qt, c.n_head[l], d, c.norm_eps);
              unit_rmsnorm(kt, c.n_head_kv[l], d, c.norm_eps);
            }
          } else if (hp_.temperature_tuning) {
            const float scale = temperature(pos0 + (t - g.row0));
            for (int i = 0; i < qd; ++i) qt[i] *= scale;
          }
          store_kv(cache, l, c.n_head_kv[l], d, pos0 + (t - g.row0), kt, s.v.data() + static_cast<size_t>(t) * kvd);
        }
        const size_t r0 = static_cast<size_t>(g.row0) * qd;
        add_attention(rope && hp_.chunk > 0, qd, s.q.data() + r0, cache.k(l), cache.v(l), cache.n_ctx(), pos0, g.n,
                      s.att.data() + r0, att);
      }
      const AttentionShape shape{c.n_head[l], c.n_head_kv[l], c.head_dim, 0};
      attention_multi(shape, att.data(), static_cast<int>(att.size()), pool);
      apply(L.wo, s.att.data(), nb, s.tmp.data(), pool);
      add_f32(s.tmp.data(), x, static_cast<int64_t>(nb) * c.n_embd);

      rmsnorm(x, L.ffn_norm.data(), s.xn.data(), nb, c.n_embd, c.norm_eps);
      if (hp_.is_moe(c, l))
        moe_sigmoid_ffn(L.moe, L.shared, s.xn.data(), nb, c.n_embd, s.tmp.data(), pool);
      else
        swiglu_ffn(L.ffn, s.xn.data(), nb, s.tmp.data(), s.gate.data(), s.up.data(), pool);
      add_f32(s.tmp.data(), x, static_cast<int64_t>(nb) * c.n_embd);
    }
  }

  Llama4Params hp_;
  Llama4Weights w_;
  Rope rope_;
};

}  // namespace

std::unique_ptr<Model> load_llama4(std::shared_ptr<const GGUFFile> file, const LoadOptions& options) {
  ModelConfig config = read_llama4_config(*file);
  if (options.n_gpu_layers != 0)
    fail(file->path(), ": Llama 4 (arch llama4) runs on the CPU only; drop --gpu / --n-gpu-layers");
  Llama4Params hp = read_llama4_params(*file, config);
  Llama4Weights w = bind_llama4_tensors(*file, config, hp);
  for (Llama4Layer& L : w.layers) {
    for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn.gate, &L.ffn.up, &L.ffn.down, &L.shared.gate, &L.shared.up,
                      &L.shared.down})
      if (m->data) prepack(*m, true);
    for (FfnWeights& e : L.moe.experts)
      for (Matrix* m : {&e.gate, &e.up, &e.down}) prepack(*m, true);
  }
  prepack(w.output, true);
  return std::make_unique<Llama4Model>(std::move(file), std::move(config), std::move(hp), std::move(w));
}

}  // namespace lineage
