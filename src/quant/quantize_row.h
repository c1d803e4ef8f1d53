// Weight quantizers: a row of floats to the blocks of a GGUF type.
//
// Every type searches its scales: each group of values gets the scale (and
// offset) that minimises the importance-weighted squared error, and the
// super-block scales of the K types are chosen by the error they leave after
// the sub-block scales are rounded to their few bits, not by rounding alone.
// With reference_rounding, Q8_0 and Q4_0 instead use the common quantizer's
// fixed rule (scale from the largest magnitude), so files compare byte for
// byte with other tools' output; the searched blocks measure closer to the
// original model (docs/QUANTIZATION.md).
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace lineage::quant {

bool can_quantize(DType t);

// Quantizes n values (a multiple of the type's block size) into dst, which
// holds dtype_row_bytes(t, n) bytes. The values must be finite.
void quantize_row(DType t, const float* x, void* dst, int64_t n, bool reference_rounding = false);

}  // namespace lineage::quant
