// Byte layouts of the remaining GGUF block types (Q4_1, Q5_0, Q5_1, Q2_K,
// Q3_K, Q5_K) and of Q8_1, the activation format of the types with a min.
// Field order and sizes are those of the files the reference quantizer
// writes. Plain structs only, like quant_blocks.h, so that kernel files of
// any ISA may include this.
#pragma once
#include <cstdint>

#include "kernels/quant_blocks.h"

namespace lineage {

// Values are q * d + m with q = 0..15: low nibbles hold values 0..15, high
// nibbles 16..31.
struct BlockQ4_1 {
  uint16_t d;  // F16 step
  uint16_t m;  // F16 offset (the block minimum)
  uint8_t qs[kQK / 2];
};

// Five-bit values: the nibbles as in Q4_0, and bit j of the little-endian
// 32-bit qh is the fifth bit of value j. Q5_0 values are (q - 16) * d.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// Q5_0's bits with an offset: q * d + m, q = 0..31.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// Activations for Q4_1 and Q5_1 weights: Q8_0 plus s = d * sum(qs) as F16,
// which carries the weight's offset term (m * sum(x)) without touching the
// values again.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK];
};

// 16 sub-blocks of 16 values, each with a 4-bit scale (low nibble) and a
// 4-bit min (high nibble): y = d * sc * q - dmin * mn, q = 0..3. Each half
// of 128 values reads 32 bytes of qs; value 32 * j + l of the half is bits
// 2j..2j+1 of byte l.
struct BlockQ2_K {
  uint8_t scales[kQKK / 16];
  uint8_t qs[kQKK / 4];
  uint16_t d;
  uint16_t dmin;
};

// Three-bit values q - 4 (q = 0..7): the two low bits packed as in Q2_K, the
// third bit in hmask (value 32 * k + l, k = 0..7, is bit k of hmask[l]).
// 16 six-bit scales, stored with an offset of 32 and packed in 12 bytes:
// low nibbles in bytes 0..7 (scales 0..7 low, 8..15 high nibble), the top
// two bits in bytes 8..11 (scale j at bits 2 * (j / 4) of byte 8 + j % 4).
struct BlockQ3_K {
  uint8_t hmask[kQKK / 8];
  uint8_t qs[kQKK / 4];
  uint8_t scales[12];
  uint16_t d;
};

// Q4_K's scales and nibbles plus a fifth bit: for the 64-value chunk c, bit
// 2c of qh[l] belongs to the low nibble of qs[32c + l], bit 2c + 1 to the
// high one.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};

static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ5_K) == 176);

}  // namespace lineage
