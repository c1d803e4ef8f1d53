// Hyper-parameters of a LLaMA-family model, read from GGUF metadata. An
// architecture variant is a different set of values here, not a different
// code path.
#pragma once
#include <string>
#include <vector>

namespace lineage {

class GGUFFile;

struct ModelConfig {
  std::string arch;  // general.architecture
  std::string name;  // general.name (may be empty)
  int n_vocab = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_ctx_train = 0;
  std::vector<int> n_head;     // [n_layer] query heads
  std::vector<int> n_head_kv;  // [n_layer] key/value heads, each divides n_head
  std::vector<int> n_ff;       // [n_layer] FFN (or per-expert FFN) width
  int head_dim = 0;
  int rope_dim = 0;            // leading dims of each head that RoPE rotates
  float rope_freq_base = 10000.0f;
  float rope_scale = 1.0f;     // linear scaling: positions are divided by it
  float norm_eps = 1e-5f;
  int n_expert = 0;            // 0: dense FFN
  int n_expert_used = 0;
  int sliding_window = 0;      // 0: full causal attention

  int q_dim(int layer) const { return n_head[layer] * head_dim; }
  int kv_dim(int layer) const { return n_head_kv[layer] * head_dim; }
  int max_q_dim() const;
  int max_kv_dim() const;
  int max_ff() const;
};

// Reads and validates the `{arch}.*` hyper-parameter keys shared by the
// LLaMA family. Every count is range-checked, and a bad or inconsistent
// value is an Error naming the key and the file.
ModelConfig read_model_config(const GGUFFile& file);

}  // namespace lineage
