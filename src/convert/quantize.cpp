#include "convert/quantize.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/type_traits.h"
#include "quant/presets.h"
#include "quant/quantize_row.h"

namespace lineage {

QuantizeReport quantize_file(const std::string& in, const std::string& out, const QuantPreset& preset,
                             const QuantizeOptions& opt, ThreadPool& pool) {
  if (in == out) fail("the output file must differ from the input file");
  auto f = GGUFFile::open(in);
  const QuantPlan plan(preset, *f);
  GGUFWriter w;
  // A split model's parts come out as one file, which must not claim parts.
  for (const auto& [key, v] : f->metadata())
    if (key.rfind("split.", 0) != 0) w.set(key, v);
  w.set_u32("general.quantization_version", 2);
  w.set_u32("general.file_type", static_cast<uint32_t>(preset.file_type));

  QuantizeReport rep;
  for (const GGUFTensor& t : f->tensors()) {
    rep.bytes_in += t.nbytes;
    DType type = plan.type_for(t);
    if (opt.pure && QuantPlan::is_quantizable(t) && t.dims[0] % dtype_block_size(preset.base) == 0) type = preset.base;
    if (type == t.type) {
      w.add_tensor(t.name, t.dims, t.type, t.data, t.nbytes);
      rep.bytes_out += t.nbytes;
      ++rep.kept;
      ++rep.by_type[dtype_name(t.type)];
      continue;
    }
    const TypeTraits* src = type_traits(t.type);
    if (!src || !src->to_float)
      fail(in, ": tensor ", t.name, " has type ", dtype_name(t.type), ", which lineage cannot read yet");
    const TypeTraits* f16 = type_traits(DType::F16);
    if (type != DType::F16 && !quant::can_quantize(type))
      fail("lineage cannot quantize to ", dtype_name(type), " (tensor ", t.name, ")");
    const int64_t cols = t.dims[0], rows = t.rows();
    const size_t in_row = dtype_row_bytes(t.type, cols), out_row = dtype_row_bytes(type, cols);
    const size_t out_bytes = out_row * static_cast<size_t>(rows);
    w.add_tensor(t.name, t.dims, type, out_bytes, [&in, &t, src, f16, type, cols, rows, in_row, out_row, &pool, exact = opt.reference_rounding](uint8_t* dst) {
      pool.run([&](int ith, int nth) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = ith; r < rows; r += nth) {
          src->to_float(t.data + in_row * r, row.data(), cols);
          for (float v : row)
            if (!std::isfinite(v)) fail(in, ": tensor ", t.name, " row ", r, " holds ", v, "; refusing to quantize it");
          if (type == DType::F16) f16->from_float(row.data(), dst + out_row * r, cols);
          else quant::quantize_row(type, row.data(), dst + out_row * r, cols, exact);
        }
      });
    });
    rep.bytes_out += out_bytes;
    ++rep.converted;
    ++rep.by_type[dtype_name(type)];
  }
  w.write(out);
  return rep;
}

}  // namespace lineage
