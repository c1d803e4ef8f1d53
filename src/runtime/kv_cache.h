// Keys and values of every layer for one sequence. Layers the model runs
// on the CPU are kept in F32 (accuracy first), each holding K and V as
// [n_head_kv][n_ctx][head_dim] so one head's keys are contiguous for the
// attention loop. Layers on a device live in one F16 allocation there, in
// the layout of kernels/device.h.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/model_config.h"

namespace lineage {

class Device;
class Model;

class KVCache {
 public:
  // A cache for a model on the CPU. Error when n_ctx is not positive or the
  // cache cannot be allocated.
  KVCache(const ModelConfig& config, int n_ctx);
  // A cache split the way the model's layers are (Model::placement()).
  KVCache(const Model& model, int n_ctx);
  ~KVCache();
  KVCache(const KVCache&) = delete;
  KVCache& operator=(const KVCache&) = delete;

  int n_ctx() const { return n_ctx_; }
  int n_layer() const { return static_cast<int>(layers_.size()); }
  int head_dim() const { return head_dim_; }
  int n_head_kv(int layer) const { return layers_[layer].n_head_kv; }
  // Positions [0, n_past) hold valid keys and values.
  int n_past() const { return n_past_; }
  size_t bytes() const;         // host and device together
  size_t device_bytes() const;

  void clear() { n_past_ = 0; }
  // Drops positions >= n (no-op when n >= n_past).
  void truncate(int n);
  // Marks positions [0, n) valid; the model calls this after writing them.
  void set_n_past(int n);

  // Copies positions [from, to) of src (a cache of the same shape and
  // placement) into this one, which then holds `to` positions.
  void copy_positions(const KVCache& src, int from, int to);

  // The device part: layers [first_device_layer(), n_layer()) are there,
  // at device address device_kv(); none when device() is null.
  Device* device() const { return device_.get(); }
  int first_device_layer() const { return first_device_; }
  uint64_t device_kv() const { return reinterpret_cast<uintptr_t>(device_kv_); }

  // Host layers only (below first_device_layer()).
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
  std::shared_ptr<Device> device_;
  int first_device_ = 0;
  void* device_kv_ = nullptr;
  size_t device_bytes_ = 0;

  void allocate(const ModelConfig& config, int first_device);
};

}  // namespace lineage
