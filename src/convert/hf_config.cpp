#include "convert/hf_config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace lineage {

namespace {

using json = nlohmann::json;

// Far above any released model; keeps products of these in range.
constexpr int64_t kMaxEmbd = 1 << 17;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 1 << 12;
constexpr int64_t kMaxFf = 1 << 20;
constexpr int64_t kMaxVocab = 1 << 24;
constexpr int64_t kMaxExperts = 1 << 10;
constexpr int64_t kMaxCtx = int64_t{1} << 30;

class Keys {
 public:
  Keys(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  // A key whose value is null counts as absent, as transformers treats it.
  const json* get(const json& obj, const std::string& k) const {
    auto it = obj.find(k);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  const json* get(const std::string& k) const { return get(j_, k); }

  int64_t integer(const json& v, const std::string& k, int64_t lo, int64_t hi) const {
    if (!v.is_number_integer()) fail(where_, ": key ", k, " must be an integer");
    const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX ? INT64_MAX : v.get<int64_t>();
    if (x < lo || x > hi) fail(where_, ": key ", k, " is ", x, ", outside [", lo, ", ", hi, "]");
    return x;
  }
  int64_t required_int(const std::string& k, int64_t lo, int64_t hi) const {
    const json* v = get(k);
    if (!v) fail(where_, ": missing key ", k);
    return integer(*v, k, lo, hi);
  }
  int64_t optional_int(const std::string& k, int64_t lo, int64_t hi, int64_t dflt) const {
    const json* v = get(k);
    return v ? integer(*v, k, lo, hi) : dflt;
  }
  double number(const json& v, const std::string& k, double lo, double hi) const {
    if (!v.is_number()) fail(where_, ": key ", k, " must be a number");
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < lo || x > hi) fail(where_, ": key ", k, " is ", x, ", outside [", lo, ", ", hi, "]");
    return x;
  }
  double optional_number(const json& obj, const std::string& k, double lo, double hi, double dflt) const {
    const json* v = get(obj, k);
    return v ? number(*v, k, lo, hi) : dflt;
  }
  bool optional_bool(const std::string& k, bool dflt) const {
    const json* v = get(k);
    if (!v) return dflt;
    if (!v->is_boolean()) fail(where_, ": key ", k, " must be true or false");
    return v->get<bool>();
  }
  const std::string& where() const { return where_; }
  const json& root() const { return j_; }

 private:
  const json& j_;
  std::string where_;
};

void read_rope(const Keys& k, HfConfig& c) {
  // transformers 5 keeps theta and scaling in one object; earlier versions
  // wrote rope_theta at the top level and a rope_scaling object beside it.
  const json* params = k.get("rope_parameters");
  const json* scaling = k.get("rope_scaling");
  if (params && !params->is_object()) fail(k.where(), ": key rope_parameters must be an object");
  if (scaling && !scaling->is_object()) fail(k.where(), ": key rope_scaling must be an object");
  if (params) {
    if (!k.get(*params, "rope_theta") && !k.get(*params, "rope_type") && !params->empty())
      fail(k.where(), ": rope_parameters has no rope_theta or rope_type (per-layer-type RoPE is not supported)");
    if (!scaling) scaling = params;
  }
  if (const json* theta = params ? k.get(*params, "rope_theta") : nullptr)
    c.rope_theta = k.number(*theta, "rope_parameters.rope_theta", 1e-3, 1e12);
  else if (const json* top = k.get("rope_theta"))
    c.rope_theta = k.number(*top, "rope_theta", 1e-3, 1e12);

  if (!scaling) return;
  std::string type = "default";
  if (const json* t = k.get(*scaling, "rope_type"); t && t->is_string()) type = t->get<std::string>();
  else if (const json* t2 = k.get(*scaling, "type"); t2 && t2->is_string()) type = t2->get<std::string>();
  HfRopeScaling& s = c.rope_scaling;
  if (type == "default" || type == "none") return;
  if (type == "linear") {
    s.type = "linear";
    const json* f = k.get(*scaling, "factor");
    if (!f) fail(k.where(), ": linear RoPE scaling without a factor");
    s.factor = k.number(*f, "factor", 1e-6, 1e6);
  } else if (type == "llama3") {
    s.type = "llama3";
    s.factor = k.optional_number(*scaling, "factor", 1e-6, 1e6, 8.0);
    s.low_freq_factor = k.optional_number(*scaling, "low_freq_factor", 1e-6, 1e6, 1.0);
    s.high_freq_factor = k.optional_number(*scaling, "high_freq_factor", 1e-6, 1e6, 4.0);
    s.original_context = k.optional_number(*scaling, "original_max_position_embeddings", 1, 1e12, 8192);
  } else {
    fail(k.where(), ": RoPE scaling type \"", type, "\" is not supported (supported: default, linear, llama3)");
  }
}

// Llama 4's text settings, defaulted as transformers' Llama4TextConfig
// defaults them (the values of the released Scout and Maverick).
void read_llama4(const Keys& k, HfConfig& c) {
  const std::string& where = k.where();
  c.n_ff_expert = c.n_ff;  // intermediate_size is the experts' width here
  c.n_ff = k.optional_int("intermediate_size_mlp", 1, kMaxFf, 16384);
  c.n_expert = k.optional_int("num_local_experts", 0, kMaxExperts, 16);
  c.n_expert_used = c.n_expert ? k.optional_int("num_experts_per_tok", 1, c.n_expert, 1) : 0;
  c.moe_step = k.optional_int("interleave_moe_layer_step", 1, c.n_layer, 1);
  if (const json* m = k.get("moe_layers")) {
    // The GGUF files state only the step, so the list must follow it.
    std::vector<int64_t> want;
    if (c.n_expert > 0)
      for (int64_t l = c.moe_step - 1; l < c.n_layer; l += c.moe_step) want.push_back(l);
    if (!m->is_array() || *m != json(want))
      fail(where, ": moe_layers ", m->dump(), " is not every interleave_moe_layer_step-th layer (", json(want).dump(),
           "); lineage supports only that pattern");
  }
  const json* nr = k.get("no_rope_layers");
  if (nr && !(nr->is_array() && nr->empty())) {
    if (!nr->is_array() || static_cast<int64_t>(nr->size()) != c.n_layer)
      fail(where, ": key no_rope_layers must be a list of ", c.n_layer, " values");
    for (const json& x : *nr) {
      if (!x.is_number_integer() || (x.get<int64_t>() != 0 && x.get<int64_t>() != 1))
        fail(where, ": key no_rope_layers holds ", x.dump(), " (1 = RoPE layer, 0 = NoPE layer)");
      c.no_rope_layers.push_back(x.get<int64_t>());
    }
  } else {
    const int64_t every = k.optional_int("no_rope_layer_interval", 1, kMaxLayers, 4);
    for (int64_t l = 0; l < c.n_layer; ++l) c.no_rope_layers.push_back((l + 1) % every != 0);
  }
  c.chunk_size = k.optional_int("attention_chunk_size", 1, kMaxCtx, 0);
  if (const json* lt = k.get("layer_types")) {
    // Chunked exactly where RoPE is (transformers' own default), or
    // nowhere; other mixes have no GGUF spelling.
    if (!lt->is_array() || static_cast<int64_t>(lt->size()) != c.n_layer)
      fail(where, ": key layer_types must be a list of ", c.n_layer, " values");
    bool all_full = true, follows_rope = true;
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const json& t = (*lt)[l];
      if (!t.is_string() || (t != "full_attention" && t != "chunked_attention"))
        fail(where, ": layer_types holds ", t.dump(), " (full_attention or chunked_attention)");
      all_full = all_full && t == "full_attention";
      follows_rope = follows_rope && (t == "chunked_attention") == (c.no_rope_layers[l] == 1);
    }
    if (all_full) c.chunk_size = 0;
    else if (!follows_rope)
      fail(where, ": layer_types must be chunked_attention exactly on the RoPE layers (or full_attention everywhere)");
    else if (c.chunk_size == 0)
      fail(where, ": layer_types has chunked layers but attention_chunk_size is not set");
  } else if (!k.get("attention_chunk_size")) {
    c.chunk_size = 8192;
  }
  // Early configs wrote a number here; transformers tests it for truth.
  if (const json* tt = k.get("attn_temperature_tuning"); tt && tt->is_number())
    c.temperature_tuning = tt->get<double>() != 0;
  else
    c.temperature_tuning = k.optional_bool("attn_temperature_tuning", true);
  c.floor_scale = k.optional_number(k.root(), "floor_scale", 1e-6, 1e12, 8192);
  c.attn_scale = k.optional_number(k.root(), "attn_scale", -1e6, 1e6, 0.1);
  c.use_qk_norm = k.optional_bool("use_qk_norm", true);
}

}  // namespace

HfConfig parse_hf_config(const std::string& text, const std::string& where) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(where, ": not well-formed JSON");
  if (!j.is_object()) fail(where, ": not a JSON object");
  HfConfig c;

  const json* archs = Keys(j, where).get("architectures");
  if (!archs || !archs->is_array() || archs->empty() || !(*archs)[0].is_string())
    fail(where, ": missing key architectures (a list naming the model class)");
  c.arch_name = (*archs)[0].get<std::string>();
  // The multimodal Llama 4 keeps its language model's settings in
  // text_config and its weights under language_model.
  const json* text_cfg = &j;
  if (c.arch_name == "Llama4ForConditionalGeneration") {
    text_cfg = Keys(j, where).get("text_config");
    if (!text_cfg || !text_cfg->is_object()) fail(where, ": missing key text_config (an object)");
    c.tensor_prefix = "language_model.";
  }
  Keys k(*text_cfg, where);
  // Defaults below are those of each architecture's transformers config class.
  double default_eps = 1e-6, default_theta = 10000.0;
  if (c.arch_name == "LlamaForCausalLM") {
    c.arch = HfArch::Llama;
  } else if (c.arch_name == "MistralForCausalLM") {
    c.arch = HfArch::Mistral;
  } else if (c.arch_name == "MixtralForCausalLM") {
    c.arch = HfArch::Mixtral;
    default_eps = 1e-5;
    default_theta = 1e6;
  } else if (c.arch_name == "Llama4ForCausalLM" || c.arch_name == "Llama4ForConditionalGeneration") {
    c.arch = HfArch::Llama4;
    default_eps = 1e-5;
    default_theta = 500000.0;
  } else {
    fail(where, ": architecture \"", c.arch_name,
         "\" is not supported (supported: LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Llama4ForCausalLM, "
         "Llama4ForConditionalGeneration)");
  }

  if (const json* act = k.get("hidden_act"); act && (!act->is_string() || act->get<std::string>() != "silu"))
    fail(where, ": hidden_act ", act->dump(), " is not supported (LLaMA-family models use silu)");
  if (k.optional_bool("attention_bias", false)) fail(where, ": attention_bias is true; lineage has no attention biases");
  if (k.optional_bool("mlp_bias", false)) fail(where, ": mlp_bias is true; lineage has no FFN biases");

  c.n_vocab = k.required_int("vocab_size", 1, kMaxVocab);
  c.n_embd = k.required_int("hidden_size", 1, kMaxEmbd);
  c.n_layer = k.required_int("num_hidden_layers", 1, kMaxLayers);
  c.n_head = k.required_int("num_attention_heads", 1, kMaxHeads);
  c.n_head_kv = k.optional_int("num_key_value_heads", 1, kMaxHeads, c.n_head);
  if (c.n_head % c.n_head_kv != 0)
    fail(where, ": num_key_value_heads ", c.n_head_kv, " does not divide num_attention_heads ", c.n_head);
  c.n_ff = k.required_int("intermediate_size", 1, kMaxFf);
  if (const json* hd = k.get("head_dim")) {
    c.head_dim = k.integer(*hd, "head_dim", 2, 1 << 12);
    c.head_dim_given = true;
  } else {
    if (c.n_embd % c.n_head != 0)
      fail(where, ": num_attention_heads ", c.n_head, " does not divide hidden_size ", c.n_embd, " and head_dim is not given");
    c.head_dim = c.n_embd / c.n_head;
  }
  if (c.head_dim % 2 != 0) fail(where, ": head size ", c.head_dim, " is odd; RoPE needs pairs");
  c.n_ctx = k.optional_int("max_position_embeddings", 1, kMaxCtx, 0);
  c.norm_eps = k.optional_number(*text_cfg, "rms_norm_eps", 0.0, 1.0, default_eps);
  c.rope_theta = default_theta;
  read_rope(k, c);
  c.tie_embeddings = k.optional_bool("tie_word_embeddings", false);
  c.sliding_window = k.optional_int("sliding_window", 0, kMaxCtx, 0);

  if (c.arch == HfArch::Mixtral) {
    c.n_expert = k.required_int("num_local_experts", 1, kMaxExperts);
    c.n_expert_used = k.required_int("num_experts_per_tok", 1, c.n_expert);
  }
  if (c.arch == HfArch::Llama4) read_llama4(k, c);

  // Token ids may sit beside text_config rather than in it.
  Keys top(j, where);
  const json* bos = k.get("bos_token_id") ? k.get("bos_token_id") : top.get("bos_token_id");
  const json* eos = k.get("eos_token_id") ? k.get("eos_token_id") : top.get("eos_token_id");
  if (const json* b = bos; b && b->is_number_integer()) c.bos_id = b->get<int64_t>();
  if (const json* e = eos) {
    if (e->is_number_integer()) c.eos_ids.push_back(e->get<int64_t>());
    else if (e->is_array())
      for (const json& x : *e)
        if (x.is_number_integer()) c.eos_ids.push_back(x.get<int64_t>());
  }
  return c;
}

HfConfig read_hf_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, ": cannot open (is ", dir, " a Hugging Face model directory?)");
  std::ostringstream os;
  os << f.rdbuf();
  return parse_hf_config(os.str(), path);
}

std::vector<float> llama3_rope_factors(const HfConfig& c) {
  const HfRopeScaling& s = c.rope_scaling;
  const double low_wavelen = s.original_context / s.low_freq_factor;
  const double high_wavelen = s.original_context / s.high_freq_factor;
  std::vector<float> out;
  for (int64_t i = 0; i < c.head_dim; i += 2) {
    // The inverse frequency is formed in single precision, as PyTorch does
    // for the reference; the comparisons below run in double.
    const float exponent = static_cast<float>(i) / static_cast<float>(c.head_dim);
    const float freq = 1.0f / std::pow(static_cast<float>(c.rope_theta), exponent);
    const double wavelen = 2 * M_PI / static_cast<double>(freq);
    double factor;
    if (wavelen < high_wavelen) {
      factor = 1;
    } else if (wavelen > low_wavelen) {
      factor = s.factor;
    } else if (s.high_freq_factor == s.low_freq_factor) {
      // Llama 4 Scout sets both to 1: the two bands meet, and a wavelength
      // exactly on the edge keeps its frequency.
      factor = 1;
    } else {
      const double smooth = (s.original_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      factor = 1 / ((1 - smooth) / s.factor + smooth);
    }
    out.push_back(static_cast<float>(factor));
  }
  return out;
}

}  // namespace lineage
