#include "model/tensor_binding.h"

#include "core/error.h"
#include "gguf/gguf.h"
#include "kernels/type_traits.h"

namespace lineage {

namespace {

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

bool computable(DType t) {
  const TypeTraits* tr = type_traits(t);
  return tr && tr->to_float && tr->vec_dot;
}

}  // namespace

std::string TensorBinder::supported_types() {
  // In the order users meet them: float types, then legacy quants, then K-quants.
  static const DType kCandidates[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                                      DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K,
                                      DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};
  std::string s;
  for (DType t : kCandidates)
    if (computable(t)) s += (s.empty() ? "" : ", ") + std::string(dtype_name(t));
  return s;
}

bool TensorBinder::has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }

const GGUFTensor& TensorBinder::get(const std::string& name, const std::vector<int64_t>& dims) const {
  const GGUFTensor* t = file_.find_tensor(name);
  if (!t) fail(file_.path(), ": tensor ", name, " is missing (expected shape ", dims_str(dims), ")");
  if (t->dims != dims)
    fail(file_.path(), ": tensor ", name, " has shape ", dims_str(t->dims), ", expected ", dims_str(dims));
  if (!computable(t->type))
    fail(file_.path(), ": tensor ", name, " has type ", dtype_name(t->type),
         ", which lineage cannot compute yet (supported: ", supported_types(), ")");
  if (dims[0] % dtype_block_size(t->type) != 0)
    fail(file_.path(), ": tensor ", name, " has rows of ", dims[0], " values, not a multiple of the ",
         dtype_name(t->type), " block size ", dtype_block_size(t->type));
  int64_t rows = 1;
  for (size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
  if (!t->data || t->nbytes < dtype_row_bytes(t->type, dims[0]) * static_cast<size_t>(rows))
    fail(file_.path(), ": tensor ", name, " holds ", t->nbytes, " bytes, too few for shape ", dims_str(dims));
  return *t;
}

Matrix TensorBinder::matrix(const std::string& name, int64_t rows, int64_t cols) const {
  const GGUFTensor& t = get(name, {cols, rows});
  return Matrix{t.data, t.type, rows, cols};
}

std::vector<Matrix> TensorBinder::stacked(const std::string& name, int64_t n, int64_t rows, int64_t cols) const {
  const GGUFTensor& t = get(name, {cols, rows, n});
  std::vector<Matrix> out;
  const size_t bytes = dtype_row_bytes(t.type, cols) * static_cast<size_t>(rows);
  for (int64_t e = 0; e < n; ++e) out.push_back(Matrix{t.data + e * bytes, t.type, rows, cols});
  return out;
}

std::vector<float> TensorBinder::vector(const std::string& name, int64_t n) const {
  const GGUFTensor& t = get(name, {n});
  std::vector<float> out(n);
  type_traits(t.type)->to_float(t.data, out.data(), n);
  return out;
}

}  // namespace lineage
