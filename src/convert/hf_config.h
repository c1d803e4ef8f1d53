// The hyper-parameters of a Hugging Face LLaMA-family checkpoint, read from
// its config.json. Both ways transformers has written RoPE settings are
// understood: `rope_theta` + `rope_scaling` (the published checkpoints) and
// one `rope_parameters` object (transformers 5). Missing or ill-typed keys
// are Errors naming the key; a value transformers would default is defaulted
// the way the model's config class does.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lineage {

enum class HfArch { Llama, Mistral, Mixtral, Llama4 };

struct HfRopeScaling {
  std::string type = "none";  // none, linear, llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;          // llama3
  double high_freq_factor = 4.0;         // llama3
  double original_context = 8192;        // llama3: original_max_position_embeddings
};

struct HfConfig {
  std::string arch_name;  // as config.json spells it, e.g. "MistralForCausalLM"
  HfArch arch = HfArch::Llama;
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  bool head_dim_given = false;  // config.json states head_dim (then it is written as key_length)
  int64_t n_ff = 0;
  int64_t n_ctx = 0;            // 0 when the config names no context length
  double rope_theta = 10000.0;
  HfRopeScaling rope_scaling;
  double norm_eps = 1e-6;
  bool tie_embeddings = false;
  int64_t sliding_window = 0;   // 0: full attention
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  // Llama 4 (text part). n_ff is then the dense layers' width
  // (intermediate_size_mlp) and n_ff_expert that of each expert and of the
  // shared expert (intermediate_size).
  std::string tensor_prefix;     // "language_model." for Llama4ForConditionalGeneration
  int64_t n_ff_expert = 0;
  int64_t moe_step = 1;          // layer i is MoE iff (i + 1) % moe_step == 0
  int64_t chunk_size = 0;        // attention_chunk_size; 0: no chunked layers
  std::vector<int64_t> no_rope_layers;  // [n_layer], 1 = RoPE layer, 0 = NoPE layer
  bool temperature_tuning = true;
  double floor_scale = 8192;
  double attn_scale = 0.1;
  bool use_qk_norm = true;
  // Special token ids as config.json lists them (eos may be several).
  int64_t bos_id = -1;
  std::vector<int64_t> eos_ids;
};

// Reads dir/config.json.
HfConfig read_hf_config(const std::string& dir);
// Parses config.json text; `where` names the file in messages.
HfConfig parse_hf_config(const std::string& text, const std::string& where);

// Per-pair RoPE frequency divisors for llama3 scaling, computed as the
// common converter computes the rope_freqs.weight tensor.
std::vector<float> llama3_rope_factors(const HfConfig& c);

}  // namespace lineage
