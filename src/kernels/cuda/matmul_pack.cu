// Host side of the weight layout (matmul_layout.h): which types the GPU
// multiplies, how many bytes a packed matrix takes, and the rearrangement
// of GGUF blocks into it.
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/cuda/matmul_layout.h"
#include "kernels/quant_blocks.h"
#include "kernels/ref/ref_kernels.h"
#include "tensor/fp16.h"

namespace lineage::cuda {
namespace {

bool is_quant(DType t) { return t == DType::Q4_0 || t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q6_K; }

size_t quant_bytes(DType t) { return t == DType::Q8_0 ? 32 : 16; }

size_t meta_bytes(DType t) {
  switch (t) {
    case DType::Q4_K: return 8;
    case DType::Q6_K: return 12;
    default: return 2;
  }
}

void check_shape(DType t, int64_t rows, int64_t cols) {
  if (!matmul_supports(t)) fail("CUDA matmul: weight type ", dtype_name(t), " is not supported");
  if (rows <= 0 || cols <= 0) fail("CUDA matmul: empty ", dtype_name(t), " matrix (", rows, " x ", cols, ")");
  const int bs = dtype_block_size(t);
  if (cols % bs != 0) fail("CUDA matmul: ", dtype_name(t), " rows of ", cols, " values are not whole blocks of ", bs);
  if (cols > (int64_t{1} << 30) || rows > (int64_t{1} << 31))
    fail("CUDA matmul: ", rows, " x ", cols, " matrix is too large");
}

// One 32-value block in the device form: `q` gets kQuantBytes, `m` the meta.
struct BlockOut {
  uint8_t* q;
  uint8_t* m;
};

// Q4_0 arrangement of 32 unsigned 4-bit values.
void put_nibbles(const uint8_t* v, uint8_t* q) {
  for (int j = 0; j < 16; ++j) q[j] = static_cast<uint8_t>((v[j] & 15) | ((v[j + 16] & 15) << 4));
}

void pack_q4_k_superblock(const BlockQ4_K& b, BlockOut* out) {
  uint8_t sc[8], mn[8];
  ref::unpack_q4_k_scales(b.scales, sc, mn);
  const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t v[32];
    const uint8_t* qs = b.qs + 32 * (j / 2);
    for (int l = 0; l < 32; ++l) v[l] = (j % 2 == 0) ? (qs[l] & 15) : (qs[l] >> 4);
    put_nibbles(v, out[j].q);
    // d (11 significant bits) times a 6-bit integer is exact in float, so
    // the device sees the very products the CPU reference forms.
    const float ws = d * static_cast<float>(sc[j]);
    const float wm = dmin * static_cast<float>(mn[j]);
    std::memcpy(out[j].m, &ws, 4);
    std::memcpy(out[j].m + 4, &wm, 4);
  }
}

void pack_q6_k_superblock(const BlockQ6_K& b, BlockOut* out) {
  uint8_t u[256];  // unsigned 6-bit values in value order
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    uint8_t* o = u + 128 * h;
    for (int l = 0; l < 32; ++l) {
      o[l] = static_cast<uint8_t>((ql[l] & 15) | ((qh[l] & 3) << 4));
      o[l + 32] = static_cast<uint8_t>((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
      o[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      o[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
  for (int j = 0; j < 8; ++j) {
    const uint8_t* v = u + 32 * j;
    put_nibbles(v, out[j].q);
    uint8_t hi[8];
    for (int w = 0; w < 2; ++w)
      for (int e = 0; e < 4; ++e)
        hi[4 * w + e] = static_cast<uint8_t>((v[4 * w + e] >> 4) | ((v[16 + 4 * w + e] >> 4) << 2) |
                                             ((v[8 + 4 * w + e] >> 4) << 4) | ((v[24 + 4 * w + e] >> 4) << 6));
    std::memcpy(out[j].m, hi, 8);
    std::memcpy(out[j].m + 8, &b.d, 2);
    out[j].m[10] = static_cast<uint8_t>(b.scales[2 * j]);
    out[j].m[11] = static_cast<uint8_t>(b.scales[2 * j + 1]);
  }
}

// One GGUF row into the quantized planes at row index `row`.
void pack_quant_row(DType t, const uint8_t* src, const QuantGeom& g, int64_t row, uint8_t* vals, uint8_t* meta) {
  const size_t qb = quant_bytes(t), mb = meta_bytes(t);
  auto out = [&](int b) {
    const int64_t at = row * g.slots() + g.slot(b);
    return BlockOut{vals + at * qb, meta + at * mb};
  };
  if (t == DType::Q4_0) {
    const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(src);
    for (int i = 0; i < g.nb; ++i) {
      BlockOut o = out(i);
      std::memcpy(o.q, b[i].qs, 16);
      std::memcpy(o.m, &b[i].d, 2);
    }
  } else if (t == DType::Q8_0) {
    const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(src);
    for (int i = 0; i < g.nb; ++i) {
      BlockOut o = out(i);
      std::memcpy(o.q, b[i].qs, 32);
      std::memcpy(o.m, &b[i].d, 2);
    }
  } else {
    for (int i = 0; i < g.nb / 8; ++i) {
      BlockOut o[8];
      for (int j = 0; j < 8; ++j) o[j] = out(8 * i + j);
      if (t == DType::Q4_K)
        pack_q4_k_superblock(reinterpret_cast<const BlockQ4_K*>(src)[i], o);
      else
        pack_q6_k_superblock(reinterpret_cast<const BlockQ6_K*>(src)[i], o);
    }
  }
}

// One F16 / BF16 row (raw 16-bit values) into the tile layout.
void pack_half_row(const uint16_t* src, int64_t cols, const HalfGeom& g, int64_t row, uint16_t* dst) {
  const int64_t group = row / 16;
  const int m = static_cast<int>(row % 16);
  for (int64_t col = 0; col < cols; ++col) {
    const int64_t chunk = col / 16;
    const int c = static_cast<int>(col % 16);
    const int lane = 4 * (m % 8) + (c % 8) / 2;
    const int reg = (m >= 8 ? 1 : 0) + (c >= 8 ? 2 : 0);
    const int64_t tile = group * g.nc + chunk;
    dst[tile * 256 + lane * 8 + reg * 2 + c % 2] = src[col];
  }
}

}  // namespace

bool matmul_supports(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || is_quant(t);
}

size_t packed_bytes(DType t, int64_t rows, int64_t cols) {
  check_shape(t, rows, cols);
  const size_t r = static_cast<size_t>(rows);
  if (is_quant(t)) {
    const QuantGeom g = quant_geom(cols);
    const size_t n = r * static_cast<size_t>(g.slots());
    return align256(n * quant_bytes(t)) + align256(n * meta_bytes(t));
  }
  if (t == DType::F32) return align256(r * static_cast<size_t>(cols) * 4);
  const HalfGeom g = half_geom(rows, cols);
  return static_cast<size_t>(g.groups) * static_cast<size_t>(g.nc) * 512;
}

void pack_matrix(DType t, int64_t cols, std::span<const MatrixPart> parts, int n_stack, void* dst) {
  int64_t rows = 0;
  for (const MatrixPart& p : parts) {
    if (p.rows < 0 || (p.rows > 0 && p.data == nullptr)) fail("CUDA matmul: invalid matrix part");
    rows += p.rows;
  }
  if (n_stack < 1 || rows % n_stack != 0)
    fail("CUDA matmul: ", rows, " rows do not split into ", n_stack, " stacked matrices");
  const size_t total = packed_bytes(t, rows, cols);
  uint8_t* out = static_cast<uint8_t*>(dst);
  // Padding (unused slots, rows and columns of partial tiles) is zero.
  std::memset(out, 0, total);
  const size_t row_bytes = dtype_row_bytes(t, cols);

  if (is_quant(t)) {
    const QuantGeom g = quant_geom(cols);
    uint8_t* vals = out;
    uint8_t* meta = out + align256(static_cast<size_t>(rows) * g.slots() * quant_bytes(t));
    int64_t row = 0;
    for (const MatrixPart& p : parts)
      for (int64_t r = 0; r < p.rows; ++r, ++row)
        pack_quant_row(t, static_cast<const uint8_t*>(p.data) + r * row_bytes, g, row, vals, meta);
    return;
  }
  if (t == DType::F32) {
    int64_t row = 0;
    for (const MatrixPart& p : parts) {
      std::memcpy(out + row * row_bytes, p.data, static_cast<size_t>(p.rows) * row_bytes);
      row += p.rows;
    }
    return;
  }
  const HalfGeom g = half_geom(rows, cols);
  int64_t row = 0;
  for (const MatrixPart& p : parts)
    for (int64_t r = 0; r < p.rows; ++r, ++row)
      pack_half_row(reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(p.data) + r * row_bytes), cols, g,
                    row, reinterpret_cast<uint16_t*>(out));
}

}  // namespace lineage::cuda
