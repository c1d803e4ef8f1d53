// Scalar references for the remaining GGUF weight types: the definition of
// their arithmetic, which the SIMD kernels are tested against. Signatures
// match kernels/type_traits.h. Weight quantizers for these types live in
// src/quant/; only the activation quantizer (Q8_1) is here.
#pragma once
#include <cstdint>

namespace lineage::ref {

// Q8_1: activations for weights with an offset (Q4_1, Q5_1).
void to_float_q8_1(const void* src, float* dst, int64_t n);
void from_float_q8_1(const float* src, void* dst, int64_t n);

void to_float_q4_1(const void* src, float* dst, int64_t n);
void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* x);  // x is Q8_1

void to_float_q5_0(const void* src, float* dst, int64_t n);
void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* x);  // x is Q8_0

void to_float_q5_1(const void* src, float* dst, int64_t n);
void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* x);  // x is Q8_1

void to_float_q2_k(const void* src, float* dst, int64_t n);
void vec_dot_q2_k(int64_t n, float* out, const void* w, const void* x);  // x is Q8_K

void to_float_q3_k(const void* src, float* dst, int64_t n);
void vec_dot_q3_k(int64_t n, float* out, const void* w, const void* x);  // x is Q8_K

void to_float_q5_k(const void* src, float* dst, int64_t n);
void vec_dot_q5_k(int64_t n, float* out, const void* w, const void* x);  // x is Q8_K

// Unpacks Q3_K's 12-byte scale field into 16 signed scales (offset removed).
void unpack_q3_k_scales(const uint8_t* packed, int8_t* sc);

}  // namespace lineage::ref
