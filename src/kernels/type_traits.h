// Compute support per tensor type: one row per type. Adding a quant type is
// adding a row and its kernels. Activations are converted once per row to
// the weight type's vec_dot_type (e.g. Q8_0 for Q4_0 weights, Q8_K for the
// K-quants), and vec_dot multiplies a weight row with such an activation row.
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace lineage {

using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// *out = dot(weight row w, activation row x); x is in the row's vec_dot_type.
using VecDotFn = void (*)(int64_t n, float* out, const void* w, const void* x);
// One weight row against nt (1..kVecDotMaxN) activation rows, the k-th at
// x + k * x_stride bytes, writing out[k * out_stride]. Each result is bitwise
// the one vec_dot gives, so batching never changes a token's output; reading
// the weight row once for several tokens is what makes it worth having.
using VecDotNFn = void (*)(int64_t n, int nt, float* out, int64_t out_stride, const void* w, const void* x,
                           int64_t x_stride);
constexpr int kVecDotMaxN = 4;
// Row-interleaved int8 product for types with a panel layout (see
// kernels/gemm_panel.h); matmul prefers it to vec_dot when present.
struct QuantActs;
using GemmPanelFn = void (*)(const uint8_t* panel, int64_t nb, const QuantActs& x, int nt, float* y, int64_t y_stride,
                             int n_rows);
// One token against n_panels (1..kMaxGemvPanels) consecutive panels,
// panel_stride bytes apart, whose rows are consecutive outputs y[r] for
// r < n_rows. Same per-output arithmetic as GemmPanelFn; reading several
// panels at once keeps several memory streams in flight.
using GemvPanelsFn = void (*)(const uint8_t* panel, int64_t panel_stride, int n_panels, int64_t nb, const QuantActs& x,
                              float* y, int n_rows);
using GemmPanelF32Fn = void (*)(const uint8_t* panel, int64_t panel_stride, int n_panels, int64_t cols, const float* x,
                                int64_t x_stride, int nt, float* y, int64_t y_stride, int n_rows);

struct TypeTraits {
  DType type;
  DType vec_dot_type;
  ToFloatFn to_float;      // dequantize a row
  FromFloatFn from_float;  // quantize a row (nullptr where not supported)
  VecDotFn vec_dot;
  VecDotNFn vec_dot_n = nullptr;  // optional; matmul loops over vec_dot without it
  GemmPanelFn gemm_panel = nullptr;  // optional; bitwise equal to vec_dot's results
  GemvPanelsFn gemv_panels = nullptr;  // optional; one token, equal to gemm_panel's results
  GemmPanelF32Fn gemm_panel_f32 = nullptr;  // optional, float activations (F16 weights)
};

// Traits for the best instruction set this CPU has (or the one forced with
// LINEAGE_ISA=scalar|avx2|avx512); nullptr when lineage cannot compute with
// the type.
const TypeTraits* type_traits(DType t);
// The scalar reference row, the truth every SIMD kernel is tested against.
const TypeTraits* type_traits_ref(DType t);

enum class Isa { Scalar, Avx2, Avx512 };
Isa active_isa();           // chosen once from cpuid and LINEAGE_ISA
Isa cpu_isa();              // the best this CPU can run
const char* isa_name(Isa);
void force_isa(Isa isa);    // for tests; must not be called while kernels run

}  // namespace lineage
