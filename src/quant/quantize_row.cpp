#include "quant/quantize_row.h"

#include "core/error.h"
#include "kernels/ref/ref_kernels.h"
#include "quant/kquants.h"

namespace lineage::quant {

namespace {

using RowFn = void (*)(const float* x, void* dst, int64_t n);

RowFn row_fn(DType t, bool reference_rounding) {
  switch (t) {
    case DType::Q8_0: return reference_rounding ? ref::from_float_q8_0 : quantize_row_q8_0;
    case DType::Q4_0: return reference_rounding ? ref::from_float_q4_0 : quantize_row_q4_0;
    case DType::Q4_1: return quantize_row_q4_1;
    case DType::Q5_0: return quantize_row_q5_0;
    case DType::Q5_1: return quantize_row_q5_1;
    case DType::Q2_K: return quantize_row_q2_k;
    case DType::Q3_K: return quantize_row_q3_k;
    case DType::Q4_K: return quantize_row_q4_k;
    case DType::Q5_K: return quantize_row_q5_k;
    case DType::Q6_K: return quantize_row_q6_k;
    default: return nullptr;
  }
}

}  // namespace

bool can_quantize(DType t) { return row_fn(t, false) != nullptr; }

void quantize_row(DType t, const float* x, void* dst, int64_t n, bool reference_rounding) {
  RowFn fn = row_fn(t, reference_rounding);
  if (!fn) fail("lineage cannot quantize to ", dtype_name(t));
  if (n % dtype_block_size(t) != 0)
    fail("a row of ", n, " values does not fill whole ", dtype_name(t), " blocks of ", dtype_block_size(t));
  fn(x, dst, n);
}

}  // namespace lineage::quant
