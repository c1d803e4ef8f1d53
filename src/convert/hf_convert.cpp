#include "convert/hf_convert.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <set>

#include "convert/hf_checkpoint.h"
#include "convert/hf_config.h"
#include "convert/tokenizer_json.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "tensor/fp16.h"

namespace lineage {

namespace {

// One source tensor feeding an output tensor; experts stack several.
struct Part {
  const StTensor* src = nullptr;
  int64_t perm_heads = 0;  // > 0: rows are Q/K of this many heads, permuted
  // Transposed slices (Llama 4 experts): src is [n][R][C] and output
  // matrix m takes columns col0 .. col0 + out_rows - 1 of src[m] as its
  // rows, so each output row has R values.
  bool transpose = false;
  int64_t col0 = 0;
};

struct OutTensor {
  std::string name;
  std::vector<int64_t> dims;  // GGUF order: contiguous dimension first
  DType type = DType::F32;
  std::vector<Part> parts;
  std::vector<float> generated;  // used instead of parts (rope_freqs)
  size_t nbytes = 0;
};

float load_element(const uint8_t* p, StDType t) {
  switch (t) {
    case StDType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case StDType::F16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return fp16_to_f32(h);
    }
    case StDType::BF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return bf16_to_f32(h);
    }
  }
  return 0;
}

bool same_type(StDType s, DType d) {
  return (s == StDType::F32 && d == DType::F32) || (s == StDType::F16 && d == DType::F16) ||
         (s == StDType::BF16 && d == DType::BF16);
}

// Values go through float, as the common converter's do; between equal
// types the bytes are copied (the same result, faster).
void convert_row(const uint8_t* src, StDType st, uint8_t* dst, DType dt, int64_t n) {
  if (same_type(st, dt)) {
    std::memcpy(dst, src, static_cast<size_t>(n) * st_dtype_size(st));
    return;
  }
  const size_t ss = st_dtype_size(st);
  for (int64_t i = 0; i < n; ++i) {
    const float v = load_element(src + i * ss, st);
    if (dt == DType::F32) {
      std::memcpy(dst + i * 4, &v, 4);
    } else {
      const uint16_t h = dt == DType::F16 ? f32_to_fp16(v) : f32_to_bf16(v);
      std::memcpy(dst + i * 2, &h, 2);
    }
  }
}

// Hugging Face stores each Q/K head as two halves (x[i], x[i + d/2]) that
// RoPE rotates together; GGUF arch llama rotates adjacent pairs. Output row
// 2i + j of a head comes from input row j * d/2 + i.
int64_t permuted_source_row(int64_t r, int64_t head_dim) {
  const int64_t h = r / head_dim, w = r % head_dim;
  return h * head_dim + (w % 2) * (head_dim / 2) + w / 2;
}

// Writes the transposed slice p of a 3-D source into an output of dims
// {R, out_rows, n}: out[m][r][c] = src[m][c][col0 + r].
void produce_transposed(const OutTensor& t, const Part& p, uint8_t* dst) {
  const StTensor& s = *p.src;
  const int64_t n = s.shape[0], R = s.shape[1], C = s.shape[2];
  const int64_t out_rows = t.dims[1];
  const size_t es = st_dtype_size(s.dtype), out_row = dtype_row_bytes(t.type, R);
  // Output rows go in blocks, so each source row is read as one contiguous
  // run per block rather than one element per output row (Scout's experts
  // are [16][5120][16384]: element-wise strides would touch a new page each).
  constexpr int64_t kBlock = 64;
  std::vector<float> rows(static_cast<size_t>(kBlock) * R);
  for (int64_t m = 0; m < n; ++m) {
    const uint8_t* mat = s.data + static_cast<size_t>(m) * R * C * es;
    for (int64_t r0 = 0; r0 < out_rows; r0 += kBlock) {
      const int64_t nb = std::min(kBlock, out_rows - r0);
      for (int64_t c = 0; c < R; ++c) {
        const uint8_t* run = mat + (static_cast<size_t>(c) * C + p.col0 + r0) * es;
        for (int64_t b = 0; b < nb; ++b) rows[b * R + c] = load_element(run + b * es, s.dtype);
      }
      for (int64_t b = 0; b < nb; ++b) {
        convert_row(reinterpret_cast<const uint8_t*>(&rows[b * R]), StDType::F32, dst, t.type, R);
        dst += out_row;
      }
    }
  }
}

void produce(const OutTensor& t, const HfCheckpoint& ck, uint8_t* dst) {
  if (t.parts.empty()) {
    std::memcpy(dst, t.generated.data(), t.generated.size() * sizeof(float));
    return;
  }
  if (t.parts.size() == 1 && t.parts[0].transpose) {
    produce_transposed(t, t.parts[0], dst);
    ck.release(*t.parts[0].src);
    return;
  }
  const int64_t cols = t.dims[0];
  const size_t out_row = dtype_row_bytes(t.type, cols);
  for (const Part& p : t.parts) {
    const StTensor& s = *p.src;
    const size_t in_row = static_cast<size_t>(cols) * st_dtype_size(s.dtype);
    const int64_t rows = s.n_elements() / cols;
    const int64_t head_dim = p.perm_heads > 0 ? rows / p.perm_heads : 0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t from = head_dim > 0 ? permuted_source_row(r, head_dim) : r;
      convert_row(s.data + in_row * from, s.dtype, dst, t.type, cols);
      dst += out_row;
    }
    ck.release(s);
  }
}

class Planner {
 public:
  Planner(const HfConfig& c, const HfCheckpoint& ck, DType type) : c_(c), ck_(ck), type_(type) {}

  // Checks the Hugging Face tensor's shape (outermost first) and marks it used.
  const StTensor& take(const std::string& name, std::vector<int64_t> shape) {
    const StTensor& t = ck_.get(name);
    if (t.shape != shape) {
      std::string want, got;
      for (int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (int64_t d : t.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      fail("tensor '", name, "' has shape [", got, "], but config.json implies [", want, "]");
    }
    used_.insert(name);
    return t;
  }

  void add(const std::string& name, const std::string& hf, std::vector<int64_t> shape, int64_t perm_heads = 0) {
    const StTensor& s = take(hf, shape);
    OutTensor t;
    t.name = name;
    t.dims.assign(shape.rbegin(), shape.rend());
    t.type = pick_type(name, t.dims.size());
    t.parts.push_back({&s, perm_heads});
    push(std::move(t));
  }

  // Experts e = 0..E-1 of one projection stacked into one 3-D tensor.
  void add_experts(const std::string& name, const std::string& hf_prefix, const std::string& hf_suffix,
                   std::vector<int64_t> shape) {
    OutTensor t;
    t.name = name;
    t.dims.assign(shape.rbegin(), shape.rend());
    t.dims.push_back(c_.n_expert);
    t.type = pick_type(name, t.dims.size());
    for (int64_t e = 0; e < c_.n_expert; ++e)
      t.parts.push_back({&take(hf_prefix + std::to_string(e) + hf_suffix, shape), 0});
    push(std::move(t));
  }

  // A stacked [n][R][C] source, transposed per matrix: output dims
  // {R, rows, n} from columns col0 .. col0 + rows - 1. The source may be
  // shared by several outputs (gate and up halves), so it is taken once.
  void add_transposed(const std::string& name, const StTensor& src, int64_t rows, int64_t col0) {
    OutTensor t;
    t.name = name;
    t.dims = {src.shape[1], rows, src.shape[0]};
    t.type = pick_type(name, t.dims.size());
    Part part{&src, 0, true, col0};
    t.parts.push_back(part);
    push(std::move(t));
  }

  void add_generated(const std::string& name, std::vector<float> values) {
    OutTensor t;
    t.name = name;
    t.dims = {static_cast<int64_t>(values.size())};
    t.type = DType::F32;
    t.generated = std::move(values);
    push(std::move(t));
  }

  std::deque<OutTensor>& tensors() { return out_; }
  const std::set<std::string>& used() const { return used_; }

 private:
  // The common converter's rule: 1-D tensors, norms and the expert router
  // stay F32; every other matrix takes the requested type.
  DType pick_type(const std::string& name, size_t n_dims) const {
    auto ends_with = [&](const char* s) {
      const size_t n = std::strlen(s);
      return name.size() >= n && name.compare(name.size() - n, n, s) == 0;
    };
    if (n_dims <= 1 || ends_with("_norm.weight") || ends_with("ffn_gate_inp.weight")) return DType::F32;
    return type_;
  }

  void push(OutTensor t) {
    int64_t ne = 1;
    for (int64_t d : t.dims) ne *= d;
    t.nbytes = dtype_row_bytes(t.type, t.dims[0]) * static_cast<size_t>(ne / t.dims[0]);
    out_.push_back(std::move(t));
  }

  const HfConfig& c_;
  const HfCheckpoint& ck_;
  DType type_;
  std::deque<OutTensor> out_;  // stable addresses: the writer's producers point into it
  std::set<std::string> used_;
};

// Llama 4 (text): Q and K already rotate adjacent pairs, so no permutation;
// experts come stacked, gate and up fused as [n_expert][n_embd][2 * ff]
// (gate first) and down as [n_expert][ff][n_embd], i.e. transposed against
// GGUF's [rows][cols] per expert.
void plan_llama4(const HfConfig& c, Planner& p) {
  const int64_t E = c.n_embd, hd = c.head_dim, F = c.n_ff, FE = c.n_ff_expert;
  const std::string m = c.tensor_prefix + "model.";
  if (c.rope_scaling.type == "llama3") p.add_generated("rope_freqs.weight", llama3_rope_factors(c));
  p.add("token_embd.weight", m + "embed_tokens.weight", {c.n_vocab, E});
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string hf = m + "layers." + std::to_string(l) + ".";
    const std::string g = "blk." + std::to_string(l) + ".";
    p.add(g + "attn_norm.weight", hf + "input_layernorm.weight", {E});
    p.add(g + "attn_q.weight", hf + "self_attn.q_proj.weight", {c.n_head * hd, E});
    p.add(g + "attn_k.weight", hf + "self_attn.k_proj.weight", {c.n_head_kv * hd, E});
    p.add(g + "attn_v.weight", hf + "self_attn.v_proj.weight", {c.n_head_kv * hd, E});
    p.add(g + "attn_output.weight", hf + "self_attn.o_proj.weight", {E, c.n_head * hd});
    p.add(g + "ffn_norm.weight", hf + "post_attention_layernorm.weight", {E});
    const std::string ff = hf + "feed_forward.";
    if (c.n_expert == 0 || (l + 1) % c.moe_step != 0) {
      p.add(g + "ffn_gate.weight", ff + "gate_proj.weight", {F, E});
      p.add(g + "ffn_up.weight", ff + "up_proj.weight", {F, E});
      p.add(g + "ffn_down.weight", ff + "down_proj.weight", {E, F});
      continue;
    }
    p.add(g + "ffn_gate_inp.weight", ff + "router.weight", {c.n_expert, E});
    const StTensor& gate_up = p.take(ff + "experts.gate_up_proj", {c.n_expert, E, 2 * FE});
    const StTensor& down = p.take(ff + "experts.down_proj", {c.n_expert, FE, E});
    p.add_transposed(g + "ffn_gate_exps.weight", gate_up, FE, 0);
    p.add_transposed(g + "ffn_up_exps.weight", gate_up, FE, FE);
    p.add_transposed(g + "ffn_down_exps.weight", down, E, 0);
    p.add(g + "ffn_gate_shexp.weight", ff + "shared_expert.gate_proj.weight", {FE, E});
    p.add(g + "ffn_up_shexp.weight", ff + "shared_expert.up_proj.weight", {FE, E});
    p.add(g + "ffn_down_shexp.weight", ff + "shared_expert.down_proj.weight", {E, FE});
  }
  p.add("output_norm.weight", m + "norm.weight", {E});
}

void plan_tensors(const HfConfig& c, const HfCheckpoint& ck, Planner& p) {
  const int64_t E = c.n_embd, hd = c.head_dim, F = c.n_ff;
  if (c.arch == HfArch::Llama4) {
    plan_llama4(c, p);
    const std::string head = c.tensor_prefix + "lm_head.weight";
    if (!c.tie_embeddings && ck.find(head)) p.add("output.weight", head, {c.n_vocab, E});
    for (const auto& [name, t] : ck.tensors()) {
      if (p.used().count(name)) continue;
      if (name == head && c.tie_embeddings) continue;
      // The vision tower and its projector are another model (an mmproj file).
      if (name.rfind("vision_model.", 0) == 0 || name.rfind("multi_modal_projector.", 0) == 0) continue;
      fail("tensor '", name, "' is not part of a ", c.arch_name, " as lineage converts it");
    }
    return;
  }
  if (c.rope_scaling.type == "llama3") p.add_generated("rope_freqs.weight", llama3_rope_factors(c));
  p.add("token_embd.weight", "model.embed_tokens.weight", {c.n_vocab, E});
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string hf = "model.layers." + std::to_string(l) + ".";
    const std::string g = "blk." + std::to_string(l) + ".";
    p.add(g + "attn_norm.weight", hf + "input_layernorm.weight", {E});
    p.add(g + "attn_q.weight", hf + "self_attn.q_proj.weight", {c.n_head * hd, E}, c.n_head);
    p.add(g + "attn_k.weight", hf + "self_attn.k_proj.weight", {c.n_head_kv * hd, E}, c.n_head_kv);
    p.add(g + "attn_v.weight", hf + "self_attn.v_proj.weight", {c.n_head_kv * hd, E});
    p.add(g + "attn_output.weight", hf + "self_attn.o_proj.weight", {E, c.n_head * hd});
    p.add(g + "ffn_norm.weight", hf + "post_attention_layernorm.weight", {E});
    if (c.n_expert == 0) {
      p.add(g + "ffn_gate.weight", hf + "mlp.gate_proj.weight", {F, E});
      p.add(g + "ffn_up.weight", hf + "mlp.up_proj.weight", {F, E});
      p.add(g + "ffn_down.weight", hf + "mlp.down_proj.weight", {E, F});
    } else {
      const std::string moe = hf + "block_sparse_moe.";
      p.add(g + "ffn_gate_inp.weight", moe + "gate.weight", {c.n_expert, E});
      p.add_experts(g + "ffn_gate_exps.weight", moe + "experts.", ".w1.weight", {F, E});
      p.add_experts(g + "ffn_down_exps.weight", moe + "experts.", ".w2.weight", {E, F});
      p.add_experts(g + "ffn_up_exps.weight", moe + "experts.", ".w3.weight", {F, E});
    }
  }
  p.add("output_norm.weight", "model.norm.weight", {E});
  // Tied models reuse the embedding table; a file without output.weight
  // tells every GGUF reader so.
  if (!c.tie_embeddings && ck.find("lm_head.weight")) p.add("output.weight", "lm_head.weight", {c.n_vocab, E});

  for (const auto& [name, t] : ck.tensors()) {
    if (p.used().count(name)) continue;
    if (name == "lm_head.weight" && c.tie_embeddings) continue;
    const std::string tail = "rotary_emb.inv_freq";  // a cache some exports keep; recomputed from the config
    if (name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0) continue;
    fail("tensor '", name, "' is not part of a ", c.arch_name, " as lineage converts it");
  }
}

int file_type_of(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::BF16: return 32;
    default: fail("lineage convert writes f32, f16 or bf16, not ", dtype_name(t));
  }
}

// lineage's own keys for what published Llama 4 files leave to the engine
// (their meaning and defaults are documented in model/llama4.cpp).
void set_llama4_keys(GGUFWriter& w, const HfConfig& c) {
  w.set_u32("llama4.interleave_moe_layer_step", static_cast<uint32_t>(c.moe_step));
  if (c.n_expert > 0) w.set_u32("llama4.expert_feed_forward_length", static_cast<uint32_t>(c.n_ff_expert));
  w.set_u32("llama4.attention.chunk_size", static_cast<uint32_t>(c.chunk_size));
  GGUFValue nope;
  nope.type = GGUFType::ARRAY;
  nope.elem_type = GGUFType::U32;
  nope.ints = c.no_rope_layers;
  w.set("llama4.no_rope_layers", nope);
  w.set_bool("llama4.attention.temperature_tuning", c.temperature_tuning);
  w.set_f32("llama4.attention.floor_scale", static_cast<float>(c.floor_scale));
  w.set_f32("llama4.attention.attn_scale", static_cast<float>(c.attn_scale));
  w.set_bool("llama4.use_qk_norm", c.use_qk_norm);
}

void set_model_keys(GGUFWriter& w, const HfConfig& c, DType type, const std::string& name) {
  const std::string arch = c.arch == HfArch::Llama4 ? "llama4" : "llama";
  const std::string a = arch + ".";
  w.set_string("general.architecture", arch);
  w.set_string("general.type", "model");
  w.set_string("general.name", name);
  if (c.n_ctx > 0) w.set_u32(a + "context_length", static_cast<uint32_t>(c.n_ctx));
  w.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layer));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(c.n_embd));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.n_ff));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_head));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(c.n_head_kv));
  w.set_f32(a + "rope.freq_base", static_cast<float>(c.rope_theta));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(c.norm_eps));
  if (c.n_expert > 0) {
    w.set_u32(a + "expert_count", static_cast<uint32_t>(c.n_expert));
    w.set_u32(a + "expert_used_count", static_cast<uint32_t>(c.n_expert_used));
  }
  if (c.head_dim_given) {
    w.set_u32(a + "attention.key_length", static_cast<uint32_t>(c.head_dim));
    w.set_u32(a + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  }
  w.set_u32("general.file_type", static_cast<uint32_t>(file_type_of(type)));
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(c.n_vocab));
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  if (c.rope_scaling.type == "linear") {
    w.set_string(a + "rope.scaling.type", "linear");
    w.set_f32(a + "rope.scaling.factor", static_cast<float>(c.rope_scaling.factor));
  }
  if (c.sliding_window > 0) w.set_u32(a + "attention.sliding_window", static_cast<uint32_t>(c.sliding_window));
  if (c.arch == HfArch::Llama4) set_llama4_keys(w, c);
  w.set_u32("general.quantization_version", 2);
}

std::string model_name(const std::string& dir) {
  std::filesystem::path p(dir);
  std::string name = p.filename().string();
  if (name.empty() || name == ".") name = p.parent_path().filename().string();
  return name.empty() ? "model" : name;
}

void check_output_path(const std::string& dir, const std::string& out) {
  std::error_code ec;
  if (std::filesystem::equivalent(dir, out, ec)) fail(out, ": the output is the model directory itself");
  if (std::filesystem::is_directory(out, ec)) fail(out, ": is a directory; give the output file name");
  // Renaming the finished file over one of the inputs would destroy it.
  const std::filesystem::path o(out);
  const std::string ext = o.extension().string();
  if ((ext == ".safetensors" || ext == ".json") && std::filesystem::exists(o, ec) &&
      std::filesystem::equivalent(o.has_parent_path() ? o.parent_path() : ".", dir, ec))
    fail(out, ": is one of the model's own files; give another output name");
}

}  // namespace

ConvertReport convert_hf_model(const std::string& dir, const std::string& out, const ConvertOptions& opt) {
  check_output_path(dir, out);
  file_type_of(opt.type);  // refuse other output types before reading anything
  HfConfig c = read_hf_config(dir);
  HfCheckpoint ck = HfCheckpoint::open(dir);
  Planner p(c, ck, opt.type);
  plan_tensors(c, ck, p);

  GGUFWriter w;
  set_model_keys(w, c, opt.type, model_name(dir));
  ConvertReport rep;
  rep.has_vocab = add_hf_vocab(w, dir, c.n_vocab);

  ConvertProgress prog;
  prog.total = p.tensors().size();
  for (const OutTensor& t : p.tensors()) prog.bytes_total += t.nbytes;
  for (const OutTensor& t : p.tensors()) {
    w.add_tensor(t.name, t.dims, t.type, t.nbytes, [&t, &ck, &prog, &opt](uint8_t* dst) {
      produce(t, ck, dst);
      ++prog.done;
      prog.bytes_done += t.nbytes;
      prog.name = t.name;
      if (opt.on_tensor) opt.on_tensor(prog);
    });
  }
  w.write(out);
  rep.n_tensors = prog.total;
  rep.bytes = prog.bytes_total;
  return rep;
}

void convert_hf_vocab(const std::string& dir, const std::string& out) {
  check_output_path(dir, out);
  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.type", "model");
  w.set_string("general.name", model_name(dir));
  if (!add_hf_vocab(w, dir, 0)) fail(dir, ": no tokenizer.json in the directory");
  w.write(out);
}

}  // namespace lineage
