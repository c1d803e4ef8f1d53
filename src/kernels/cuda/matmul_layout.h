// The device layout of weight matrices (written by pack_matrix, read by the
// matrix products and embed). Plain C++ usable on host and device.
//
// Quantized types (Q4_0, Q8_0, Q4_K, Q6_K) are cut into 32-value blocks,
// nb per row, and each row's blocks into S segments of L consecutive
// blocks (the last may be shorter); S and L follow from the width alone.
// A segment is the unit of the fixed reduction order: its blocks are
// summed in order into one partial, and a row's partials are added in
// segment order. Two planes, each starting 256-byte aligned:
//   values: [row][slot] of kQuantBytes(t) bytes (16: 32 nibbles, low
//           nibble of byte j = value j, high nibble = value j + 16; Q8_0
//           32 int8; Q6_K the low four bits as nibbles),
//   meta:   [row][slot] of kMetaBytes(t) bytes (scales, see below),
// where block b of a row sits at slot (b % L) * S + b / L: the i-th block
// of every segment side by side, so the 32 lanes of a warp, one segment
// each, read 32 neighbouring 16-byte pieces.
//   Q4_0, Q8_0 meta: F16 d.
//   Q4_K meta: float d * sc, float dmin * m of the block's sub-block (both
//           exact products), nibbles unsigned 0..15.
//   Q6_K meta: two 32-bit words of high bits, F16 d, int8 scale of values
//           0..15, int8 scale of values 16..31. High-bit word u (0, 1),
//           byte e holds the top two bits of value 4u+e (bits 0-1),
//           16+4u+e (bits 2-3), 4u+8+e (bits 4-5), 24+4u+e (bits 6-7);
//           values are unsigned 0..63 (the GGUF q + 32).
//
// F16 / BF16: 16-row groups by 16-column chunks, each a 512-byte tile in
// the register order of the tensor-core operand A of mma m16n8k16: lane
// l = 4 * (m % 8) + (c % 8) / 2 holds 16 bytes, register
// (m >= 8) + 2 * (c >= 8), half c % 2, for row m and column c of the tile.
// Rows and columns are padded with zeros to whole tiles; stacked matrices
// are simply consecutive rows.
//
// F32: plain [rows][cols].
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/act_layout.h"

namespace lineage::cuda {

// Segments of a quantized row of nb blocks: at most 32, L = ceil(nb / 32).
struct QuantGeom {
  int nb = 0;  // 32-value blocks per row
  int L = 0;   // blocks per segment
  int S = 0;   // segments
  LINEAGE_HD int64_t slots() const { return static_cast<int64_t>(L) * S; }
  LINEAGE_HD int64_t slot(int b) const { return static_cast<int64_t>(b % L) * S + b / L; }
};

LINEAGE_HD inline QuantGeom quant_geom(int64_t cols) {
  QuantGeom g;
  g.nb = static_cast<int>(cols / 32);
  g.L = (g.nb + 31) / 32;
  g.S = g.L > 0 ? (g.nb + g.L - 1) / g.L : 0;
  return g;
}

// Chunks of 16 columns of an F16 / BF16 row and their segments (at most
// 8): segment s is chunks [s * nc / S, (s + 1) * nc / S).
struct HalfGeom {
  int nc = 0;
  int S = 0;
  int64_t groups = 0;  // 16-row groups of the whole (stacked) matrix
};

LINEAGE_HD inline HalfGeom half_geom(int64_t rows, int64_t cols) {
  HalfGeom g;
  g.nc = static_cast<int>((cols + 15) / 16);
  g.S = g.nc < 8 ? g.nc : 8;
  g.groups = (rows + 15) / 16;
  return g;
}

// Columns of an F32 row per segment: at most 32 segments, segment s is
// [s * cols / S, (s + 1) * cols / S).
LINEAGE_HD inline int f32_segments(int64_t cols) { return cols < 32 ? static_cast<int>(cols) : 32; }

}  // namespace lineage::cuda
