// Scalar reference kernels: the definition of every type's arithmetic.
// SIMD kernels are tested against these. Signatures match kernels/type_traits.h.
#pragma once
#include <cstdint>

namespace lineage::ref {

void to_float_f32(const void* src, float* dst, int64_t n);
void from_float_f32(const float* src, void* dst, int64_t n);
void vec_dot_f32(int64_t n, float* out, const void* w, const void* x);

void to_float_f16(const void* src, float* dst, int64_t n);
void from_float_f16(const float* src, void* dst, int64_t n);
void vec_dot_f16(int64_t n, float* out, const void* w, const void* x);  // x is F32

void to_float_bf16(const void* src, float* dst, int64_t n);
void from_float_bf16(const float* src, void* dst, int64_t n);
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x);  // x is F32

void to_float_q8_0(const void* src, float* dst, int64_t n);
void from_float_q8_0(const float* src, void* dst, int64_t n);
void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* x);  // x is Q8_0

void to_float_q4_0(const void* src, float* dst, int64_t n);
void from_float_q4_0(const float* src, void* dst, int64_t n);
void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* x);  // x is Q8_0

void to_float_q8_k(const void* src, float* dst, int64_t n);
void from_float_q8_k(const float* src, void* dst, int64_t n);

void to_float_q4_k(const void* src, float* dst, int64_t n);
void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x);  // x is Q8_K

void to_float_q6_k(const void* src, float* dst, int64_t n);
void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x);  // x is Q8_K

// Unpacks the 12-byte Q4_K scale field into 8 scales and 8 mins (6 bits each).
void unpack_q4_k_scales(const uint8_t* packed, uint8_t* sc, uint8_t* mn);

}  // namespace lineage::ref
