// Looks up a model's tensors by name and checks each one's shape and type
// against the hyper-parameters before anything reads it.
#pragma once
#include <string>
#include <vector>

#include "nn/matrix.h"

namespace lineage {

class GGUFFile;
struct GGUFTensor;

class TensorBinder {
 public:
  explicit TensorBinder(const GGUFFile& file) : file_(file) {}

  bool has(const std::string& name) const;
  // A 2-D tensor with dims {cols, rows}, in a type the kernels compute with.
  Matrix matrix(const std::string& name, int64_t rows, int64_t cols) const;
  // A 3-D tensor with dims {cols, rows, n}: n matrices stacked.
  std::vector<Matrix> stacked(const std::string& name, int64_t n, int64_t rows, int64_t cols) const;
  // A 1-D tensor of n values, converted to float (norm weights and the like).
  std::vector<float> vector(const std::string& name, int64_t n) const;

  // "F32, F16, ..." for the types with compute support.
  static std::string supported_types();

 private:
  const GGUFTensor& get(const std::string& name, const std::vector<int64_t>& dims) const;
  const GGUFFile& file_;
};

}  // namespace lineage
