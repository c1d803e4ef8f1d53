// Quantization presets (Q4_K_M and friends): a default type plus the
// per-tensor exceptions the common GGUF quantizer makes, so that a preset
// means the same mix of types here as in files published under its name.
#pragma once
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace lineage {

class GGUFFile;
struct GGUFTensor;

struct QuantPreset {
  const char* name;
  int file_type;  // general.file_type (the llama_ftype number)
  DType base;     // the type of most matrices
};

// nullptr when the name (case-insensitive) is not a preset.
const QuantPreset* find_quant_preset(const std::string& name);
const std::vector<QuantPreset>& quant_presets();

// Chooses each tensor's type for one file and preset. The layer-dependent
// rules ("more bits" for the first and last eighth of attn_v and ffn_down,
// and every third layer between) count layers as the common tool does.
class QuantPlan {
 public:
  QuantPlan(const QuantPreset& preset, const GGUFFile& file);
  // The type `t` is written in: its own type when it is not quantized
  // (norms, 1-D tensors, the expert router).
  DType type_for(const GGUFTensor& t) const;
  // Whether t is a weight matrix the preset quantizes at all.
  static bool is_quantizable(const GGUFTensor& t);

 private:
  DType choose(const GGUFTensor& t) const;
  int layer_rank(const std::string& name, const std::vector<std::string>& group) const;

  const QuantPreset& preset_;
  int n_layer_ = 0;
  int n_gqa_ = 1;
  int n_expert_ = 0;
  bool has_output_ = false;
  bool is_70b_ = false;
  std::vector<std::string> attn_v_;  // the attn_v-like tensors in layer order
};

}  // namespace lineage
