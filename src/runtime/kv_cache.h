// Keys and values of every layer for one sequence, kept in F32 (accuracy
// first). Each layer holds K and V as [n_head_kv][n_ctx][head_dim] so one
// head's keys are contiguous for the attention loop.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model_config.h"

namespace lineage {

class KVCache {
 public:
  // Error when n_ctx is not positive or the cache cannot be allocated.
  KVCache(const ModelConfig& config, int n_ctx);

  int n_ctx() const { return n_ctx_; }
  int n_layer() const { return static_cast<int>(layers_.size()); }
  int head_dim() const { return head_dim_; }
  int n_head_kv(int layer) const { return layers_[layer].n_head_kv; }
  // Positions [0, n_past) hold valid keys and values.
  int n_past() const { return n_past_; }
  size_t bytes() const;

  void clear() { n_past_ = 0; }
  // Drops positions >= n (no-op when n >= n_past).
  void truncate(int n);
  // Marks positions [0, n) valid; the model calls this after writing them.
  void set_n_past(int n);

  float* k(int layer) { return layers_[layer].k.data(); }  // [n_head_kv][n_ctx][head_dim]
  float* v(int layer) { return layers_[layer].v.data(); }
  const float* k(int layer) const { return layers_[layer].k.data(); }
  const float* v(int layer) const { return layers_[layer].v.data(); }

 private:
  struct Layer {
    int n_head_kv = 0;
    std::vector<float> k;
    std::vector<float> v;
  };
  int n_ctx_ = 0;
  int head_dim_ = 0;
  int n_past_ = 0;
  std::vector<Layer> layers_;
};

}  // namespace lineage
