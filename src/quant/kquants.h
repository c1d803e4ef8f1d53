// Per-type row quantizers behind quant/quantize_row.h (internal): the K
// types in kquants.cpp, the 32-value types in legacy.cpp.
#pragma once
#include <cstdint>

namespace lineage::quant {

void quantize_row_q2_k(const float* x, void* dst, int64_t n);
void quantize_row_q3_k(const float* x, void* dst, int64_t n);
void quantize_row_q4_k(const float* x, void* dst, int64_t n);
void quantize_row_q5_k(const float* x, void* dst, int64_t n);
void quantize_row_q6_k(const float* x, void* dst, int64_t n);

void quantize_row_q8_0(const float* x, void* dst, int64_t n);
void quantize_row_q4_0(const float* x, void* dst, int64_t n);
void quantize_row_q4_1(const float* x, void* dst, int64_t n);
void quantize_row_q5_0(const float* x, void* dst, int64_t n);
void quantize_row_q5_1(const float* x, void* dst, int64_t n);

// The 12-byte packing of eight 6-bit scales and mins that Q4_K and Q5_K share.
void pack_k_scales_mins(const int* sc, const int* mn, uint8_t* out);

}  // namespace lineage::quant
