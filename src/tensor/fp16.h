// Scalar conversions between float and the two 16-bit float formats GGUF
// stores (IEEE binary16 and bfloat16). Both directions round to nearest even,
// the rounding that F16C hardware and numpy use, so a value quantized here
// matches one quantized by the reference tools bit for bit.
#pragma once
#include <cstdint>
#include <cstring>

namespace lineage {

inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
  // Subnormal half: mant * 2^-24 is exact in float.
  const float v = static_cast<float>(mant) * f32_from_bits(0x33800000u);
  return sign ? -v : v;
}

inline uint16_t f32_to_fp16(float f) {
  const uint32_t x = f32_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0);  // inf / quiet NaN
  if (ax >= 0x477ff000u) return sign | 0x7c00;  // rounds past the largest half
  if (ax < 0x38800000u) {
    // Result is subnormal (or zero): add a magic number so the FPU's own
    // round-to-nearest-even shifts the mantissa into place.
    const float v = f32_from_bits(ax) + 0.5f;
    return sign | static_cast<uint16_t>(f32_to_bits(v) - 0x3f000000u);
  }
  const uint32_t odd = (ax >> 13) & 1;
  const uint32_t r = ax + 0xfff + odd - (112u << 23);
  return sign | static_cast<uint16_t>(r >> 13);
}

inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t x = f32_to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // keep NaN a NaN
  return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

}  // namespace lineage
