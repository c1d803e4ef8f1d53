// Arch `llama` on a device (kernels/device.h): the last n_gpu_layers layers
// and the output layer run there, the layers before them on the CPU
// (model/llama.cpp's loop), the residual stream crossing over once per
// slice. Weights are uploaded once at load; keys and values of device
// layers live in the KV cache's device part.
//
// A decode step (every sequence one new token, all layers on the device)
// is recorded once per batch shape as a device graph and replayed, so a
// token costs one launch instead of a few hundred.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/device.h"
#include "model/llama.h"
#include "runtime/kv_cache.h"

namespace lineage {

namespace {

// Several matrices whose products sit side by side in one output row (wq,
// wk, wv; or gate and up). Runs of one type are uploaded as one matrix;
// part i writes columns [off[i], off[i] + parts[i].rows).
struct DevGroup {
  std::vector<DevMatrix> parts;
  std::vector<int64_t> off;
  int64_t rows = 0;
};

struct DevLayer {
  float* attn_norm = nullptr;  // [n_embd]
  float* ffn_norm = nullptr;   // [n_embd]
  DevGroup qkv;                // [q_dim + 2 kv_dim] per row
  DevMatrix wo;                // [n_embd rows][q_dim]
  DevGroup gate_up;            // dense: [2 n_ff] per row
  DevMatrix down;              // dense: [n_embd rows][n_ff]
  DevMatrix router;            // MoE: [n_expert rows][n_embd]
  DevMatrix gate_up_exps;      // MoE: n_expert stacked [2 n_ff rows][n_embd]
  DevMatrix down_exps;         // MoE: n_expert stacked [n_embd rows][n_ff]
  int64_t kv_heads_before = 0;
};

// Device buffers of one slice of at most kMaxSliceRows rows.
struct DevBuffers {
  float* x = nullptr;          // [rows][n_embd] residual stream
  float* qkv = nullptr;        // [rows][max qkv width]
  float* att = nullptr;        // [rows][max_q_dim]
  float* gu = nullptr;         // [rows * pairs][2 max_ff]
  float* y_pairs = nullptr;    // MoE: [rows * k][n_embd]
  float* router = nullptr;     // MoE: [rows][n_expert]
  int32_t* ids = nullptr;      // MoE: [rows][k]
  float* weights = nullptr;    // MoE: [rows][k]
  float* xo = nullptr;         // [rows][n_embd] rows that want logits
  float* hidden = nullptr;     // [rows][n_embd]
  void* act[4] = {};           // per ActFormat: [rows * pairs][widest input]
  int32_t* tokens = nullptr;   // [rows]
  RowMeta* meta = nullptr;     // [rows]
  int32_t* tokens_h = nullptr;  // pinned host copies
  RowMeta* meta_h = nullptr;
  float* x_h = nullptr;         // [rows][n_embd] (CPU layers' output)
  float* logits = nullptr;      // [logit_rows][n_vocab]
  float* logits_h = nullptr;
  int64_t logit_rows = 0;
  void* scratch = nullptr;      // attention
  size_t scratch_bytes = 0;
};

class LlamaDeviceModel final : public BatchedModel {
 public:
  LlamaDeviceModel(std::shared_ptr<const GGUFFile> file, ModelConfig config, LlamaWeights w, const LoadOptions& o)
      : BatchedModel(std::move(file), std::move(config)),
        w_(std::move(w)),
        rope_(config_.rope_dim, config_.rope_freq_base, 1.0 / config_.rope_scale, w_.rope_factors) {
    const ModelConfig& c = config_;
    first_ = o.n_gpu_layers < 0 || o.n_gpu_layers >= c.n_layer ? 0 : c.n_layer - o.n_gpu_layers;
    dev_ = open_device(o.device);
    try {
      upload();
      allocate_buffers();
    } catch (...) {
      release();
      throw;
    }
    // Layers left on the CPU use its packed layouts.
    for (int l = 0; l < first_; ++l) prepack_layer(w_.layers[l]);
  }

  ~LlamaDeviceModel() override { release(); }

  DevicePlacement placement() const override { return DevicePlacement{dev_, first_}; }

 private:
  // ---- load -----------------------------------------------------------------

  float* upload_vector(const std::vector<float>& v) {
    float* p = static_cast<float*>(dev_->alloc(v.size() * sizeof(float)));
    allocs_.push_back(p);
    dev_->upload(p, v.data(), v.size() * sizeof(float));
    return p;
  }

  DevMatrix upload_matrix(const Matrix& m) {
    const MatrixPart part{m.data, m.rows};
    DevMatrix d = dev_->upload_matrix(m.type, m.cols, std::span<const MatrixPart>(&part, 1));
    matrices_.push_back(d);
    release_file_pages(m.data, m.row_bytes() * static_cast<size_t>(m.rows));
    note_format(m.type);
    return d;
  }

  DevGroup upload_group(std::initializer_list<const Matrix*> ms) {
    const std::vector<const Matrix*> v(ms);
    DevGroup g;
    for (size_t i = 0; i < v.size();) {
      std::vector<MatrixPart> parts;
      size_t j = i;
      for (; j < v.size() && v[j]->type == v[i]->type; ++j) parts.push_back(MatrixPart{v[j]->data, v[j]->rows});
      DevMatrix d = dev_->upload_matrix(v[i]->type, v[i]->cols, parts);
      for (size_t k = i; k < j; ++k) release_file_pages(v[k]->data, v[k]->row_bytes() * static_cast<size_t>(v[k]->rows));
      matrices_.push_back(d);
      note_format(v[i]->type);
      g.off.push_back(g.rows);
      g.rows += d.rows;
      g.parts.push_back(d);
      i = j;
    }
    return g;
  }

  // Experts stacked, each expert's gate rows then its up rows.
  DevMatrix upload_experts(const MoeWeights& moe, bool gate_up) {
    const DType t = gate_up ? moe.experts[0].gate.type : moe.experts[0].down.type;
    std::vector<MatrixPart> parts;
    for (const FfnWeights& e : moe.experts) {
      const std::vector<const Matrix*> ms = gate_up ? std::vector<const Matrix*>{&e.gate, &e.up}
                                                    : std::vector<const Matrix*>{&e.down};
      for (const Matrix* m : ms) {
        if (m->type != t)
          fail(file_->path(), ": the experts' matrices mix types ", dtype_name(t), " and ", dtype_name(m->type),
               ", which the GPU path does not support");
        parts.push_back(MatrixPart{m->data, m->rows});
      }
    }
    const Matrix& m0 = gate_up ? moe.experts[0].gate : moe.experts[0].down;
    DevMatrix d = dev_->upload_matrix(t, m0.cols, parts, static_cast<int>(moe.experts.size()));
    for (const MatrixPart& p : parts) release_file_pages(p.data, dtype_row_bytes(t, m0.cols) * static_cast<size_t>(p.rows));
    matrices_.push_back(d);
    note_format(t);
    return d;
  }

  void note_format(DType t) {
    if (!dev_->supports(t))
      fail(file_->path(), ": tensor type ", dtype_name(t), " has no GPU kernels (", dev_->name(),
           " supports F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K); quantize the model to one of them, or run fewer layers "
           "on the GPU");
    formats_used_[static_cast<int>(act_format(t))] = true;
  }

  void upload() {
    const ModelConfig& c = config_;
    if (first_ == 0) tok_embd_ = upload_matrix(w_.tok_embd);
    output_norm_ = upload_vector(w_.output_norm);
    output_ = upload_matrix(w_.output);
    std::vector<double> inv = rope_.inv_freq();
    if (inv.empty()) inv.push_back(0);
    inv_freq_ = static_cast<double*>(dev_->alloc(inv.size() * sizeof(double)));
    allocs_.push_back(inv_freq_);
    dev_->upload(inv_freq_, inv.data(), inv.size() * sizeof(double));
    layers_.resize(c.n_layer);
    int64_t heads = 0;
    for (int l = first_; l < c.n_layer; ++l) {
      const LlamaLayer& L = w_.layers[l];
      DevLayer& D = layers_[l];
      D.kv_heads_before = heads;
      heads += c.n_head_kv[l];
      D.attn_norm = upload_vector(L.attn_norm);
      D.ffn_norm = upload_vector(L.ffn_norm);
      D.qkv = upload_group({&L.wq, &L.wk, &L.wv});
      D.wo = upload_matrix(L.wo);
      if (c.n_expert == 0) {
        D.gate_up = upload_group({&L.ffn.gate, &L.ffn.up});
        D.down = upload_matrix(L.ffn.down);
      } else {
        D.router = upload_matrix(L.moe.router);
        D.gate_up_exps = upload_experts(L.moe, true);
        D.down_exps = upload_experts(L.moe, false);
      }
    }
  }

  void allocate_buffers() {
    const ModelConfig& c = config_;
    const int64_t R = kMaxSliceRows, pairs = std::max(1, c.n_expert_used), ne = c.n_embd;
    int64_t qkv_w = 0;
    for (int l = 0; l < c.n_layer; ++l) qkv_w = std::max<int64_t>(qkv_w, c.q_dim(l) + 2 * c.kv_dim(l));
    const int64_t widest = std::max<int64_t>({ne, c.max_q_dim(), c.max_ff()});
    b_.x = dev_alloc<float>(R * ne);
    b_.qkv = dev_alloc<float>(R * qkv_w);
    b_.att = dev_alloc<float>(R * c.max_q_dim());
    b_.gu = dev_alloc<float>(R * pairs * 2 * c.max_ff());
    b_.xo = dev_alloc<float>(R * ne);
    b_.hidden = dev_alloc<float>(R * ne);
    if (c.n_expert > 0) {
      b_.y_pairs = dev_alloc<float>(R * pairs * ne);
      b_.router = dev_alloc<float>(R * c.n_expert);
      b_.ids = dev_alloc<int32_t>(R * pairs);
      b_.weights = dev_alloc<float>(R * pairs);
    }
    for (int f = 0; f < 4; ++f)
      if (formats_used_[f]) {
        // Sized for the widest input at the most rows any product takes;
        // Q8's planes depend on the row count, so each call lays them out
        // for its own n.
        b_.act[f] = dev_->alloc(dev_->act_bytes(static_cast<ActFormat>(f), R * pairs, widest) + 4096);
        allocs_.push_back(b_.act[f]);
      }
    b_.tokens = dev_alloc<int32_t>(R);
    b_.meta = dev_alloc<RowMeta>(R);
    b_.tokens_h = static_cast<int32_t*>(host_alloc(R * sizeof(int32_t)));
    b_.meta_h = static_cast<RowMeta*>(host_alloc(R * sizeof(RowMeta)));
    if (first_ > 0) b_.x_h = static_cast<float*>(host_alloc(R * ne * sizeof(float)));
  }

  template <typename T>
  T* dev_alloc(int64_t n) {
    void* p = dev_->alloc(static_cast<size_t>(n) * sizeof(T));
    allocs_.push_back(p);
    return static_cast<T*>(p);
  }

  void* host_alloc(size_t bytes) {
    void* p = dev_->alloc_host(bytes);
    host_allocs_.push_back(p);
    return p;
  }

  void release() {
    if (!dev_) return;
    graphs_.clear();
    for (DevMatrix& m : matrices_) dev_->free_matrix(m);
    for (void* p : allocs_) dev_->free(p);
    for (void* p : host_allocs_) dev_->free_host(p);
    matrices_.clear();
    allocs_.clear();
    host_allocs_.clear();
    free_growing();
  }

  void free_growing() const {
    if (b_.logits) dev_->free(b_.logits);
    if (b_.logits_h) dev_->free_host(b_.logits_h);
    if (b_.scratch) dev_->free(b_.scratch);
    b_.logits = b_.logits_h = nullptr;
    b_.scratch = nullptr;
    b_.logit_rows = 0;
    b_.scratch_bytes = 0;
  }

  // Buffers whose size depends on the call; growing them invalidates every
  // recorded graph, which holds their addresses.
  void ensure_sizes(int64_t logit_rows, int n_ctx_max) const {
    const ModelConfig& c = config_;
    if (logit_rows > b_.logit_rows) {
      graphs_.clear();
      if (b_.logits) dev_->free(b_.logits);
      if (b_.logits_h) dev_->free_host(b_.logits_h);
      b_.logits = b_.logits_h = nullptr;
      const int64_t rows = std::max<int64_t>(logit_rows, std::min<int64_t>(kMaxSliceRows, 2 * b_.logit_rows));
      const size_t bytes = static_cast<size_t>(rows) * c.n_vocab * sizeof(float);
      b_.logits = static_cast<float*>(dev_->alloc(bytes));
      b_.logits_h = static_cast<float*>(dev_->alloc_host(bytes));
      b_.logit_rows = rows;
    }
    size_t need = 0;
    for (int l = first_; l < c.n_layer; ++l)
      need = std::max(need, dev_->attention_scratch_bytes(shape(l), kMaxSliceRows, n_ctx_max));
    if (need > b_.scratch_bytes) {
      graphs_.clear();
      if (b_.scratch) dev_->free(b_.scratch);
      b_.scratch = dev_->alloc(need);
      b_.scratch_bytes = need;
    }
  }

  QkvShape shape(int l) const {
    const ModelConfig& c = config_;
    return QkvShape{c.n_head[l], c.n_head_kv[l], c.head_dim, c.q_dim(l) + 2 * c.kv_dim(l)};
  }

  // ---- forward ----------------------------------------------------------------

  struct Want {
    int row;
    float* dst;
  };

  void run_batch(const SeqBatch* seqs, int n_seqs, ThreadPool& pool) const override {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < n_seqs; ++i) seqs[i].cache->truncate(seqs[i].pos);
    for_each_slice(seqs, n_seqs, [&](const std::vector<Segment>& segs, int rows) {
      run_slice(seqs, segs, rows, pool);
      for (const Segment& g : segs) seqs[g.seq].cache->set_n_past(seqs[g.seq].pos + g.off + g.n);
    });
  }

  void run_slice(const SeqBatch* seqs, const std::vector<Segment>& segs, int rows, ThreadPool& pool) const {
    const ModelConfig& c = config_;
    int n_ctx_max = 0;
    for (const Segment& g : segs) {
      const SeqBatch& b = seqs[g.seq];
      n_ctx_max = std::max(n_ctx_max, b.cache->n_ctx());
      for (int t = 0; t < g.n; ++t) {
        b_.tokens_h[g.row0 + t] = b.tokens[g.off + t];
        b_.meta_h[g.row0 + t] = RowMeta{b.pos + g.off + t, b.cache->n_ctx(), b.cache->device_kv()};
      }
    }
    // Rows whose logits are wanted, in row order, and where they go.
    std::vector<Want> want;
    bool hidden = false;
    for (const Segment& g : segs) {
      const SeqBatch& b = seqs[g.seq];
      hidden = hidden || b.hidden;
      if (!b.logits) continue;
      if (b.all_logits) {
        for (int t = 0; t < g.n; ++t) want.push_back(Want{g.row0 + t, b.logits + (g.off + t) * static_cast<size_t>(c.n_vocab)});
      } else if (g.off + g.n == b.n) {
        want.push_back(Want{g.row0 + g.n - 1, b.logits});
      }
    }
    ensure_sizes(static_cast<int64_t>(want.size()), n_ctx_max);

    // A decode step: one row per sequence, each wanting its logits. The same
    // shape recurs every token, so it is recorded once and replayed.
    bool decode = first_ == 0 && !hidden && static_cast<int>(want.size()) == rows && graphs_enabled();
    for (const Segment& g : segs) decode = decode && g.n == 1;
    const auto body = [&] {
      dev_->upload_async(b_.tokens, b_.tokens_h, rows * sizeof(int32_t));
      dev_->upload_async(b_.meta, b_.meta_h, rows * sizeof(RowMeta));
      if (first_ == 0) dev_->embed(tok_embd_, b_.tokens, rows, b_.x);
      else
        dev_->upload_async(b_.x, b_.x_h, static_cast<size_t>(rows) * c.n_embd * sizeof(float));
      for (int l = first_; l < c.n_layer; ++l) layer(l, rows, n_ctx_max);
      enqueue_outputs(want);
    };
    if (decode) {
      const auto key = std::make_pair(rows, n_ctx_max);
      auto it = graphs_.find(key);
      if (it == graphs_.end()) it = graphs_.emplace(key, dev_->capture(body)).first;
      if (it->second) {
        dev_->replay(*it->second);
        finish_outputs(seqs, segs, want);
        return;
      }
    }
    if (first_ > 0) {
      // The layers before the device's run on the CPU on host memory first.
      ForwardScratch s(c, rows, c.n_expert == 0);
      llama_cpu_inputs(c, w_, rope_, seqs, segs, s);
      llama_cpu_layers(c, w_, seqs, segs, rows, s, pool, 0, first_);
      std::memcpy(b_.x_h, s.x.data(), static_cast<size_t>(rows) * c.n_embd * sizeof(float));
    }
    body();
    if (hidden) {
      dev_->rmsnorm(b_.x, output_norm_, rows, c.n_embd, c.norm_eps, ActFormat::F32, b_.hidden);
    }
    finish_outputs(seqs, segs, want);
  }

  static bool graphs_enabled() {
    const char* e = std::getenv("LINEAGE_DEVICE_GRAPHS");
    return !(e && std::strcmp(e, "0") == 0);
  }

  // Norms x for the products ms, once per activation format they take,
  // into b_.act.
  void norm_for(const std::vector<DevMatrix>& ms, const float* w, int64_t rows) const {
    bool done[4] = {};
    for (const DevMatrix& m : ms) {
      const int f = static_cast<int>(act_format(m.type));
      if (done[f]) continue;
      done[f] = true;
      dev_->rmsnorm(b_.x, w, rows, config_.n_embd, config_.norm_eps, static_cast<ActFormat>(f), b_.act[f]);
    }
  }

  void* act_for(const DevMatrix& m) const { return b_.act[static_cast<int>(act_format(m.type))]; }

  void layer(int l, int rows, int n_ctx_max) const {
    const ModelConfig& c = config_;
    const DevLayer& D = layers_[l];
    const QkvShape s = shape(l);
    const KvLayer kvl{D.kv_heads_before};

    norm_for(D.qkv.parts, D.attn_norm, rows);
    for (size_t i = 0; i < D.qkv.parts.size(); ++i)
      dev_->matmul(D.qkv.parts[i], act_for(D.qkv.parts[i]), rows, b_.qkv + D.qkv.off[i], false, D.qkv.rows);
    dev_->rope_store(b_.qkv, s, b_.meta, rows, RopeParams{c.rope_dim, inv_freq_}, kvl);
    AttentionParams ap;
    ap.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    ap.sliding_window = c.sliding_window;
    ap.n_ctx_max = n_ctx_max;
    dev_->attention(b_.qkv, s, b_.meta, rows, kvl, ap, b_.att, b_.scratch);
    dev_->convert(b_.att, rows, c.q_dim(l), act_format(D.wo.type), act_for(D.wo));
    dev_->matmul(D.wo, act_for(D.wo), rows, b_.x, true);

    const int64_t ff = c.n_ff[l];
    if (c.n_expert == 0) {
      norm_for(D.gate_up.parts, D.ffn_norm, rows);
      for (size_t i = 0; i < D.gate_up.parts.size(); ++i)
        dev_->matmul(D.gate_up.parts[i], act_for(D.gate_up.parts[i]), rows, b_.gu + D.gate_up.off[i], false,
                     D.gate_up.rows);
      dev_->swiglu(b_.gu, rows, ff, act_format(D.down.type), act_for(D.down));
      dev_->matmul(D.down, act_for(D.down), rows, b_.x, true);
      return;
    }
    const int k = c.n_expert_used;
    norm_for({D.router, D.gate_up_exps}, D.ffn_norm, rows);
    dev_->matmul(D.router, act_for(D.router), rows, b_.router, false);
    dev_->moe_route(b_.router, rows, c.n_expert, k, b_.ids, b_.weights);
    dev_->matmul_experts(D.gate_up_exps, act_for(D.gate_up_exps), false, b_.ids, rows, k, b_.gu);
    dev_->swiglu(b_.gu, static_cast<int64_t>(rows) * k, ff, act_format(D.down_exps.type), act_for(D.down_exps));
    dev_->matmul_experts(D.down_exps, act_for(D.down_exps), true, b_.ids, rows, k, b_.y_pairs);
    dev_->moe_combine(b_.y_pairs, b_.weights, rows, k, c.n_embd, b_.x);
  }

  // Final norm and output matrix for the wanted rows, gathered first when
  // they are not rows 0..m-1; logits copied back into the pinned buffer.
  void enqueue_outputs(const std::vector<Want>& want) const {
    const ModelConfig& c = config_;
    const int64_t m = static_cast<int64_t>(want.size());
    if (m == 0) return;
    const float* src = b_.x;
    bool leading = true;
    for (int64_t i = 0; i < m; ++i) leading = leading && want[i].row == i;
    if (!leading) {
      const size_t row_bytes = static_cast<size_t>(c.n_embd) * sizeof(float);
      for (int64_t i = 0; i < m;) {
        int64_t j = i + 1;
        while (j < m && want[j].row == want[j - 1].row + 1) ++j;
        dev_->copy(b_.xo + i * c.n_embd, b_.x + static_cast<size_t>(want[i].row) * c.n_embd, (j - i) * row_bytes);
        i = j;
      }
      src = b_.xo;
    }
    const ActFormat f = act_format(output_.type);
    dev_->rmsnorm(src, output_norm_, m, c.n_embd, c.norm_eps, f, b_.act[static_cast<int>(f)]);
    dev_->matmul(output_, b_.act[static_cast<int>(f)], m, b_.logits, false);
    dev_->download_async(b_.logits_h, b_.logits, static_cast<size_t>(m) * c.n_vocab * sizeof(float));
  }

  void finish_outputs(const SeqBatch* seqs, const std::vector<Segment>& segs, const std::vector<Want>& want) const {
    const ModelConfig& c = config_;
    dev_->synchronize();
    const size_t nv = static_cast<size_t>(c.n_vocab), ne = static_cast<size_t>(c.n_embd);
    for (size_t i = 0; i < want.size(); ++i) std::memcpy(want[i].dst, b_.logits_h + i * nv, nv * sizeof(float));
    for (const Segment& g : segs) {
      const SeqBatch& b = seqs[g.seq];
      if (b.hidden) dev_->download(b.hidden + g.off * ne, b_.hidden + g.row0 * ne, g.n * ne * sizeof(float));
    }
  }

  LlamaWeights w_;
  Rope rope_;
  int first_ = 0;
  std::shared_ptr<Device> dev_;
  std::vector<DevLayer> layers_;  // [n_layer]; entries below first_ unused
  DevMatrix tok_embd_, output_;
  float* output_norm_ = nullptr;
  double* inv_freq_ = nullptr;
  bool formats_used_[4] = {};
  std::vector<DevMatrix> matrices_;
  std::vector<void*> allocs_, host_allocs_;

  mutable std::mutex mu_;  // one forward at a time: the buffers are shared
  mutable DevBuffers b_;
  mutable std::map<std::pair<int, int>, std::unique_ptr<DeviceGraph>> graphs_;
};

}  // namespace

std::unique_ptr<Model> make_llama_device_model(std::shared_ptr<const GGUFFile> file, ModelConfig config,
                                               LlamaWeights w, const LoadOptions& options) {
  return std::make_unique<LlamaDeviceModel>(std::move(file), std::move(config), std::move(w), options);
}

}  // namespace lineage
