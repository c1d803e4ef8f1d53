// The weights of a Hugging Face checkpoint directory: one model.safetensors,
// or shards listed by model.safetensors.index.json (every tensor the index
// names must be in the shard it names, and no tensor may appear twice).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "convert/safetensors.h"

namespace lineage {

class HfCheckpoint {
 public:
  static HfCheckpoint open(const std::string& dir);

  const std::map<std::string, const StTensor*>& tensors() const { return index_; }
  const StTensor* find(const std::string& name) const;
  // Error naming the tensor and the directory when it is missing.
  const StTensor& get(const std::string& name) const;
  // Drops the pages of a tensor once it has been written.
  void release(const StTensor& t) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const StTensor*> index_;
  std::map<const StTensor*, const SafetensorsFile*> owner_;
};

}  // namespace lineage
