#include "quant/presets.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "gguf/gguf.h"
#include "model/model_config.h"

namespace lineage {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

// The order the common tool walks tensors in: by layer (non-layer tensors
// first), then by name. Its layer counters count in this order.
bool walk_order(const std::string& a, const std::string& b) {
  const int la = layer_of(a), lb = layer_of(b);
  if (la != lb) return la < lb;
  return a < b;
}

// The "use more bits" layers: the first and last eighth, and every third
// layer in between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

bool is_attn_v_like(const std::string& name) {
  return contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight");
}

}  // namespace

const std::vector<QuantPreset>& quant_presets() {
  static const std::vector<QuantPreset> presets = {
      {"Q4_0", 2, DType::Q4_0},    {"Q4_1", 3, DType::Q4_1},    {"Q8_0", 7, DType::Q8_0},
      {"Q5_0", 8, DType::Q5_0},    {"Q5_1", 9, DType::Q5_1},    {"Q2_K", 10, DType::Q2_K},
      {"Q3_K_S", 11, DType::Q3_K}, {"Q3_K_M", 12, DType::Q3_K}, {"Q3_K_L", 13, DType::Q3_K},
      {"Q4_K_S", 14, DType::Q4_K}, {"Q4_K_M", 15, DType::Q4_K}, {"Q5_K_S", 16, DType::Q5_K},
      {"Q5_K_M", 17, DType::Q5_K}, {"Q6_K", 18, DType::Q6_K},
  };
  return presets;
}

const QuantPreset* find_quant_preset(const std::string& name) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& p : quant_presets())
    if (up == p.name) return &p;
  return nullptr;
}

QuantPlan::QuantPlan(const QuantPreset& preset, const GGUFFile& file) : preset_(preset) {
  const ModelConfig c = read_model_config(file);
  n_layer_ = c.n_layer;
  n_gqa_ = c.n_head_kv.empty() || c.n_head_kv[0] == 0 ? 1 : c.n_head[0] / c.n_head_kv[0];
  n_expert_ = c.n_expert;
  // The common tool's "70B" rule: 80 layers with grouped-query attention.
  is_70b_ = c.arch == "llama" && c.n_layer == 80 && n_gqa_ > 1;
  for (const GGUFTensor& t : file.tensors()) {
    if (t.name == "output.weight") has_output_ = true;
    if (is_attn_v_like(t.name)) attn_v_.push_back(t.name);
  }
  std::sort(attn_v_.begin(), attn_v_.end(), walk_order);
}

bool QuantPlan::is_quantizable(const GGUFTensor& t) {
  const std::string& n = t.name;
  return ends_with(n, "weight") && t.dims.size() >= 2 && !contains(n, "_norm.weight") &&
         !contains(n, "ffn_gate_inp.weight") && n != "position_embd.weight" && n != "token_types.weight";
}

int QuantPlan::layer_rank(const std::string& name, const std::vector<std::string>& group) const {
  return static_cast<int>(std::lower_bound(group.begin(), group.end(), name, walk_order) - group.begin());
}

DType QuantPlan::type_for(const GGUFTensor& t) const {
  if (!is_quantizable(t)) return t.type;
  return choose(t);
}

DType QuantPlan::choose(const GGUFTensor& t) const {
  const std::string& name = t.name;
  const std::string& p = preset_.name;
  const int64_t nx = t.dims[0];
  DType type = preset_.base;
  const bool q2 = p == "Q2_K", q3s = p == "Q3_K_S", q3m = p == "Q3_K_M", q3l = p == "Q3_K_L";
  const bool q4s = p == "Q4_K_S", q4m = p == "Q4_K_M", q5m = p == "Q5_K_M";

  if (name == "output.weight" || (!has_output_ && name == "token_embd.weight")) {
    // The output matrix decides every token's logits: Q6_K unless Q8_0 was
    // asked for, Q8_0 where Q6_K's blocks do not fit.
    if (nx % dtype_block_size(type) != 0) type = DType::Q8_0;
    else if (type != DType::Q8_0) type = DType::Q6_K;
  } else if (name == "token_embd.weight") {
    // Looked up by row, never multiplied: the preset's type as it is.
  } else if (is_attn_v_like(name) && contains(name, "attn_v.weight")) {
    const int i = layer_rank(name, attn_v_), n = static_cast<int>(attn_v_.size());
    if (q2) type = n_gqa_ >= 4 ? DType::Q4_K : DType::Q3_K;
    else if (q3m) type = i < 2 ? DType::Q5_K : DType::Q4_K;
    else if (q3l) type = DType::Q5_K;
    else if ((q4m || q5m) && use_more_bits(i, n)) type = DType::Q6_K;
    else if (q4s && i < 4) type = DType::Q5_K;
    if (is_70b_ && (type == DType::Q3_K || type == DType::Q4_K)) type = DType::Q5_K;
    if (n_expert_ == 8) type = DType::Q8_0;
  } else if (contains(name, "attn_k.weight")) {
    if (n_expert_ == 8) type = DType::Q8_0;
  } else if (contains(name, "ffn_down")) {
    int i = layer_of(name);
    const int n = n_layer_;
    if (i < 0 || i >= n) i = 0;
    if (q2) type = DType::Q3_K;
    else if (q3m) type = i < n / 16 ? DType::Q5_K : DType::Q4_K;
    else if (q3l) type = DType::Q5_K;
    else if (q4m) { if (use_more_bits(i, n)) type = DType::Q6_K; }
    else if (q5m && use_more_bits(i, n)) type = DType::Q6_K;
    else if (q4s && i < n / 8) type = DType::Q5_K;
  } else if (contains(name, "attn_output.weight")) {
    if (n_expert_ == 8) {
      if (q2 || q3s || q3m || q4s || q4m) type = DType::Q5_K;
    } else {
      if (q2) type = DType::Q3_K;
      else if (q3m) type = DType::Q4_K;
      else if (q3l) type = DType::Q5_K;
    }
  } else if (contains(name, "attn_qkv.weight")) {
    if (q3m || q3l) type = DType::Q4_K;
    else if (q4m) type = DType::Q5_K;
    else if (q5m) type = DType::Q6_K;
  }

  if (nx % dtype_block_size(type) != 0) {
    // Rows that do not fill 256-value super-blocks get a 32-value type of
    // about the same size (Q4_0 where the common tool now uses IQ4_NL,
    // which lineage does not write); F16 when even that does not fit.
    switch (type) {
      case DType::Q2_K:
      case DType::Q3_K: type = DType::Q4_0; break;
      case DType::Q4_K: type = DType::Q5_0; break;
      case DType::Q5_K: type = DType::Q5_1; break;
      case DType::Q6_K: type = DType::Q8_0; break;
      default: break;
    }
    if (nx % dtype_block_size(type) != 0) type = DType::F16;
  }
  return type;
}

}  // namespace lineage
