// Byte layouts of the quantized blocks lineage computes with (the GGUF
// layouts, see DESIGN.md). Plain structs only, so every kernel file,
// whatever its ISA flags, can include this without ODR risk.
#pragma once
#include <cstdint>

namespace lineage {

constexpr int kQK = 32;    // elements per block of the *_0 types
constexpr int kQKK = 256;  // elements per super-block of the K types

struct BlockQ8_0 {
  uint16_t d;  // F16 scale
  int8_t qs[kQK];
};

struct BlockQ4_0 {
  uint16_t d;           // F16 scale
  uint8_t qs[kQK / 2];  // low nibbles: values 0..15, high nibbles: 16..31
};

struct BlockQ4_K {
  uint16_t d;              // F16 scale of the sub-block scales
  uint16_t dmin;           // F16 scale of the sub-block mins
  uint8_t scales[12];      // 8 six-bit scales and 8 six-bit mins, packed
  uint8_t qs[kQKK / 2];
};

struct BlockQ6_K {
  uint8_t ql[kQKK / 2];  // low 4 bits
  uint8_t qh[kQKK / 4];  // high 2 bits
  int8_t scales[kQKK / 16];
  uint16_t d;  // F16
};

// Activation format for the K types: a float scale and the per-16 sums that
// let the min/offset terms be applied without touching the values again.
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace lineage
