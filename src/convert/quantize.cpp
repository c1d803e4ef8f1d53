#include "convert/quantize.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/type_traits.h"

namespace lineage {

int file_type_for(DType type) {
  switch (type) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q8_0: return 7;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q2_K: return 10;
    case DType::Q4_K: return 15;
    case DType::Q5_K: return 17;
    case DType::Q6_K: return 18;
    case DType::BF16: return 32;
    default: fail("no file type number for ", dtype_name(type));
  }
}

namespace {

bool is_matrix(const GGUFTensor& t) {
  auto ends_with = [&](const std::string& s) {
    return t.name.size() >= s.size() && t.name.compare(t.name.size() - s.size(), s.size(), s) == 0;
  };
  // The expert router is tiny and decides which experts run at all, so it
  // stays in full precision, as other quantizers do.
  return t.dims.size() >= 2 && ends_with(".weight") && !ends_with("ffn_gate_inp.weight");
}

}  // namespace

QuantizeReport quantize_file(const std::string& in, const std::string& out, DType type, ThreadPool& pool) {
  const TypeTraits* dst = type_traits(type);
  if ((type != DType::Q8_0 && type != DType::Q4_0) || !dst || !dst->from_float)
    fail("lineage cannot quantize to ", dtype_name(type), " yet (supported: Q8_0, Q4_0)");
  if (in == out) fail("the output file must differ from the input file");
  auto f = GGUFFile::open(in);
  GGUFWriter w;
  for (const auto& [key, v] : f->metadata()) w.set(key, v);
  GGUFValue ft;
  ft.type = GGUFType::U32;
  ft.i = file_type_for(type);
  w.set("general.file_type", ft);
  GGUFValue qv;
  qv.type = GGUFType::U32;
  qv.i = 2;
  w.set("general.quantization_version", qv);

  QuantizeReport rep;
  const int block = dtype_block_size(type);
  for (const GGUFTensor& t : f->tensors()) {
    rep.bytes_in += t.nbytes;
    if (!is_matrix(t) || t.type == type || t.dims[0] % block != 0) {
      w.add_tensor(t.name, t.dims, t.type, t.data, t.nbytes);
      rep.bytes_out += t.nbytes;
      ++rep.kept;
      continue;
    }
    const TypeTraits* src = type_traits(t.type);
    if (!src) fail(in, ": tensor ", t.name, " has type ", dtype_name(t.type), ", which lineage cannot read yet");
    const int64_t cols = t.dims[0], rows = t.rows();
    const size_t in_row = dtype_row_bytes(t.type, cols), out_row = dtype_row_bytes(type, cols);
    const size_t out_bytes = out_row * static_cast<size_t>(rows);
    w.add_tensor(t.name, t.dims, type, out_bytes, [&in, &t, src, dst, cols, rows, in_row, out_row, &pool](uint8_t* out) {
      pool.run([&](int ith, int nth) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = ith; r < rows; r += nth) {
          src->to_float(t.data + in_row * r, row.data(), cols);
          for (float v : row)
            if (!std::isfinite(v)) fail(in, ": tensor ", t.name, " row ", r, " holds ", v, "; refusing to quantize it");
          dst->from_float(row.data(), out + out_row * r, cols);
        }
      });
    });
    rep.bytes_out += out_bytes;
    ++rep.converted;
  }
  w.write(out);
  return rep;
}

}  // namespace lineage
