// Arch `llama` pieces shared by its CPU forward pass (model/llama.cpp) and
// its device forward pass (model/llama_device.cpp): the bound weights and
// the CPU layer loop, which the device pass runs for layers it leaves on the
// CPU.
#pragma once
#include <memory>
#include <vector>

#include "model/forward_slices.h"
#include "model/model.h"
#include "nn/ffn.h"
#include "nn/matrix.h"
#include "nn/moe.h"
#include "nn/rope.h"

namespace lineage {

class GGUFFile;
class ThreadPool;

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

ModelConfig read_llama_config(const GGUFFile& file);
LlamaWeights bind_llama_tensors(const GGUFFile& file, const ModelConfig& c);
// Packs a layer's matrices for the CPU kernels (nn/matrix.h prepack).
void prepack_layer(LlamaLayer& L);

// Token embeddings and RoPE table of every row of one slice into s.x and
// s.rope.
void llama_cpu_inputs(const ModelConfig& c, const LlamaWeights& w, const Rope& rope, const SeqBatch* seqs,
                      const std::vector<Segment>& segs, ForwardScratch& s);
// Layers [l0, l1) of one slice of nb rows on the CPU, on the residual
// stream in s.x.
void llama_cpu_layers(const ModelConfig& c, const LlamaWeights& w, const SeqBatch* seqs,
                      const std::vector<Segment>& segs, int nb, ForwardScratch& s, ThreadPool& pool, int l0, int l1);

// The device forward pass (model/llama_device.cpp): layers from
// n_layer - options.n_gpu_layers on, and the output, on the device.
std::unique_ptr<Model> make_llama_device_model(std::shared_ptr<const GGUFFile> file, ModelConfig config,
                                               LlamaWeights w, const LoadOptions& options);

}  // namespace lineage
