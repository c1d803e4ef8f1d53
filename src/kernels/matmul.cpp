// Weight-times-activations product. Two paths:
//  - panel types (Q4_0, Q8_0 on an ISA with panel kernels): activations are
//    quantized once per call into planes, and each 16-row panel of weights
//    (pre-packed, or packed on the fly into a per-thread buffer) is run
//    against all tokens while it sits in L1/L2;
//  - F16: the same panels with float activations and FMA (no quantization);
//  - every other type: activations converted once to the vec_dot_type, then
//    weight rows in chunks through vec_dot_n, a few tokens at a time.
// Rows are handed out from a shared counter for batches, so a thread slowed
// by a noisy neighbour takes fewer chunks and both cores finish together;
// a single token gets one contiguous range per thread, which keeps each
// core's reads sequential for the hardware prefetcher (measured: 45 vs 21
// GB/s for a Q4_0 GEMV on 2 cores), and reads four panels side by side
// where the ISA has a gemv_panels kernel.
#include "kernels/matmul.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/thread_pool.h"
#include "kernels/gemm_panel.h"
#include "kernels/quant_blocks.h"
#include "kernels/type_traits.h"
#include "tensor/fp16.h"

namespace lineage {

namespace {

// Scratch reused across calls; 64-byte aligned for the SIMD loads.
struct Scratch {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data;
  size_t size = 0;

  uint8_t* get(size_t bytes) {
    if (bytes > size) {
      const size_t n = (bytes + 63) / 64 * 64;
      data.reset(static_cast<uint8_t*>(std::aligned_alloc(64, n)));
      if (!data) fail("matmul: cannot allocate ", n, " bytes of scratch");
      size = n;
    }
    return data.get();
  }
};

thread_local Scratch tls_acts;   // quantized activations of the current call
thread_local Scratch tls_panel;  // a panel packed on the fly
thread_local Scratch tls_block;  // one Q8_0 row while splitting it into planes

// Panels p0 .. p0 + np - 1 of a weight matrix: from its packed copy, or
// packed now into this thread's buffer when the matrix was not packed.
const uint8_t* panels_at(const PackedMatrix* packed, DType wtype, const void* w, int64_t rows, int64_t cols,
                         size_t pb, int64_t p0, int np) {
  if (packed) return packed->panel(p0);
  uint8_t* buf = tls_panel.get(pb * np);
  for (int p = 0; p < np; ++p) pack_panel(wtype, w, rows, cols, (p0 + p) * kPanelRows, buf + p * pb);
  return buf;
}

std::atomic<size_t> g_packed_bytes{0};

int64_t round64(int64_t n) { return (n + 63) / 64 * 64; }

// Rows per chunk for the vec_dot path: enough that the counter is touched
// rarely, small enough (about 32 KiB of weights) that a chunk stays in L2
// while every token group passes over it, and a few chunks per thread.
int64_t chunk_rows(int64_t rows, size_t row_bytes, int nth) {
  int64_t c = std::max<int64_t>(1, static_cast<int64_t>((32 * 1024) / std::max<size_t>(row_bytes, 1)));
  c = std::min<int64_t>(c, 64);
  const int64_t per_thread = rows / (4 * static_cast<int64_t>(nth));
  if (per_thread >= 1) c = std::min(c, per_thread);
  return std::max<int64_t>(c, 1);
}

// Runs items [0, n) on the pool: one contiguous range per thread when
// `contiguous`, otherwise chunks of `chunk` items from a shared counter.
template <typename Fn>
void parallel_items(ThreadPool& pool, int64_t n, bool contiguous, int64_t chunk, const Fn& fn) {
  const int nth = pool.size();
  if (nth == 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  if (contiguous) {
    pool.run([&](int ith, int nt) {
      const int64_t a = n * ith / nt, b = n * (ith + 1) / nt;
      for (int64_t i = a; i < b; ++i) fn(i);
    });
    return;
  }
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  std::atomic<int64_t> next{0};
  pool.run([&](int, int) {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= n_chunks) return;
      for (int64_t i = c * chunk, e = std::min(n, i + chunk); i < e; ++i) fn(i);
    }
  });
}

// Quantizes token rows to Q8_0 with the ISA's quantizer and splits them into
// the planes of QuantActs.
QuantActs quantize_acts(DType wtype, const float* x, int64_t cols, int64_t n_tokens, ThreadPool& pool) {
  const int64_t nb = cols / kQK;
  const int64_t qs_stride = round64(cols), blk_stride = round64(nb);
  const size_t qs_bytes = static_cast<size_t>(qs_stride * n_tokens);
  const size_t blk_bytes = static_cast<size_t>(blk_stride * n_tokens) * 4;
  uint8_t* buf = tls_acts.get(qs_bytes + 2 * blk_bytes);
  int8_t* qs = reinterpret_cast<int8_t*>(buf);
  float* d = reinterpret_cast<float*>(buf + qs_bytes);
  int32_t* corr = reinterpret_cast<int32_t*>(buf + qs_bytes + blk_bytes);
  const FromFloatFn quantize = type_traits(DType::Q8_0)->from_float;
  const int32_t offset = panel_offset(wtype);
  auto one = [&](int64_t t) {
    BlockQ8_0* row = reinterpret_cast<BlockQ8_0*>(tls_block.get(static_cast<size_t>(nb) * sizeof(BlockQ8_0)));
    quantize(x + t * cols, row, cols);
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(qs + t * qs_stride + b * kQK, row[b].qs, kQK);
      int32_t sum = 0;
      for (int j = 0; j < kQK; ++j) sum += row[b].qs[j];
      d[t * blk_stride + b] = fp16_to_f32(row[b].d);
      corr[t * blk_stride + b] = -offset * sum;
    }
  };
  // A few tokens are quantized faster inline than with a pool round trip.
  if (n_tokens < 4 || pool.size() == 1) {
    for (int64_t t = 0; t < n_tokens; ++t) one(t);
  } else {
    pool.run([&](int ith, int nth) {
      for (int64_t t = ith; t < n_tokens; t += nth) one(t);
    });
  }
  return QuantActs{qs, d, corr, qs_stride, blk_stride};
}

void matmul_panels(const TypeTraits* tt, const void* w, DType wtype, int64_t rows, int64_t cols, const float* x,
                   int64_t n_tokens, float* y, ThreadPool& pool, const PackedMatrix* packed) {
  const QuantActs acts = quantize_acts(wtype, x, cols, n_tokens, pool);
  const int64_t nb = cols / kQK;
  const int64_t n_panels = (rows + kPanelRows - 1) / kPanelRows;
  const size_t pb = panel_bytes(wtype, cols);
  if (n_tokens == 1 && tt->gemv_panels) {
    // Groups of panels, one contiguous range of groups per thread.
    const GemvPanelsFn gemv = tt->gemv_panels;
    const int64_t n_groups = (n_panels + kMaxGemvPanels - 1) / kMaxGemvPanels;
    parallel_items(pool, n_groups, true, 1, [&](int64_t g) {
      const int64_t p0 = g * kMaxGemvPanels;
      const int np = static_cast<int>(std::min<int64_t>(kMaxGemvPanels, n_panels - p0));
      const uint8_t* panel = panels_at(packed, wtype, w, rows, cols, pb, p0, np);
      const int n_rows = static_cast<int>(std::min<int64_t>(np * kPanelRows, rows - p0 * kPanelRows));
      gemv(panel, static_cast<int64_t>(pb), np, nb, acts, y + p0 * kPanelRows, n_rows);
    });
    return;
  }
  const GemmPanelFn kernel = tt->gemm_panel;
  const bool single = n_tokens <= 4;
  parallel_items(pool, n_panels, single, 1, [&](int64_t p) {
    const uint8_t* panel = panels_at(packed, wtype, w, rows, cols, pb, p, 1);
    const int n_rows = static_cast<int>(std::min<int64_t>(kPanelRows, rows - p * kPanelRows));
    kernel(panel, nb, acts, static_cast<int>(n_tokens), y + p * kPanelRows, rows, n_rows);
  });
}

// F16 panels against float activations: one token runs groups of panels
// through the kernel together (independent FMA chains), a batch one panel
// at a time against all tokens.
void matmul_panels_f32(GemmPanelF32Fn kernel, const void* w, DType wtype, int64_t rows, int64_t cols, const float* x,
                       int64_t n_tokens, float* y, ThreadPool& pool, const PackedMatrix* packed) {
  const int64_t n_panels = (rows + kPanelRows - 1) / kPanelRows;
  const size_t pb = panel_bytes(wtype, cols);
  const int64_t group = n_tokens == 1 ? kMaxPanelsF32 : 2;
  const int64_t n_items = (n_panels + group - 1) / group;
  // A batch tile reads one value from each of a dozen tokens' rows per step;
  // with rows a multiple of 4 KiB apart those lines all fall into the same
  // L1 set and evict each other, so the rows are copied once, 64 bytes apart
  // from such a multiple.
  int64_t x_stride = cols;
  if (n_tokens > 1 && (cols * 4) % 4096 == 0) {
    x_stride = cols + 16;
    float* xp = reinterpret_cast<float*>(tls_acts.get(static_cast<size_t>(x_stride * n_tokens) * 4));
    pool.run([&](int ith, int n) {
      for (int64_t t = ith; t < n_tokens; t += n) std::memcpy(xp + t * x_stride, x + t * cols, cols * 4);
    });
    x = xp;
  }
  parallel_items(pool, n_items, n_tokens == 1, 1, [&](int64_t it) {
    const int64_t p0 = it * group;
    const int np = static_cast<int>(std::min<int64_t>(group, n_panels - p0));
    const uint8_t* panel = panels_at(packed, wtype, w, rows, cols, pb, p0, np);
    const int n_rows = static_cast<int>(std::min<int64_t>(np * kPanelRows, rows - p0 * kPanelRows));
    kernel(panel, static_cast<int64_t>(pb), np, cols, x, x_stride, static_cast<int>(n_tokens), y + p0 * kPanelRows, rows,
           n_rows);
  });
}

void matmul_vec_dot(const TypeTraits* tt, const void* w, DType wtype, int64_t rows, int64_t cols, const float* x,
                    int64_t n_tokens, float* y, ThreadPool& pool) {
  const DType vt = tt->vec_dot_type;
  const size_t w_row = dtype_row_bytes(wtype, cols);
  const size_t x_row = dtype_row_bytes(vt, cols);
  const int nth = pool.size();
  const uint8_t* xq;
  if (vt == DType::F32) {
    xq = reinterpret_cast<const uint8_t*>(x);
  } else {
    const TypeTraits* vtt = type_traits(vt);
    if (!vtt || !vtt->from_float) fail("matmul: cannot convert activations to ", dtype_name(vt));
    uint8_t* buf = tls_acts.get(x_row * static_cast<size_t>(n_tokens));
    const FromFloatFn quantize = vtt->from_float;
    if (n_tokens < 4 || nth == 1) {
      for (int64_t t = 0; t < n_tokens; ++t) quantize(x + t * cols, buf + t * x_row, cols);
    } else {
      pool.run([&](int ith, int n) {
        for (int64_t t = ith; t < n_tokens; t += n) quantize(x + t * cols, buf + t * x_row, cols);
      });
    }
    xq = buf;
  }
  const bool single = n_tokens <= kVecDotMaxN;
  const int64_t chunk = single ? (rows + nth - 1) / nth : chunk_rows(rows, w_row, nth);
  const int64_t n_chunks = (rows + chunk - 1) / chunk;
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const VecDotFn dot = tt->vec_dot;
  const VecDotNFn dot_n = tt->vec_dot_n;
  parallel_items(pool, n_chunks, single, 1, [&](int64_t c) {
    const int64_t r0 = c * chunk, r1 = std::min(rows, r0 + chunk);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kVecDotMaxN) {
      const int nt = static_cast<int>(std::min<int64_t>(kVecDotMaxN, n_tokens - t0));
      const uint8_t* xt = xq + t0 * x_row;
      for (int64_t r = r0; r < r1; ++r) {
        float* out = y + t0 * rows + r;
        const uint8_t* wr = wb + r * w_row;
        if (dot_n) {
          dot_n(cols, nt, out, rows, wr, xt, static_cast<int64_t>(x_row));
        } else {
          for (int k = 0; k < nt; ++k) dot(cols, out + k * rows, wr, xt + k * x_row);
        }
      }
    }
  });
}

}  // namespace

std::shared_ptr<const PackedMatrix> PackedMatrix::pack(const void* w, DType t, int64_t rows, int64_t cols,
                                                       bool release_source) {
  if (!panel_supported(t) || (t != DType::F16 && cols % kQK != 0) || rows <= 0) return nullptr;
  std::shared_ptr<PackedMatrix> m(new PackedMatrix());
  m->type_ = t;
  m->rows_ = rows;
  m->cols_ = cols;
  m->panel_bytes_ = panel_bytes(t, cols);
  const int64_t n_panels = (rows + kPanelRows - 1) / kPanelRows;
  m->bytes_ = m->panel_bytes_ * static_cast<size_t>(n_panels);
  // 2 MiB alignment lets the kernel back big matrices with huge pages: a
  // token's pass over the weights then needs far fewer TLB refills.
  constexpr size_t kHuge = 2u << 20;
  const bool huge = m->bytes_ >= kHuge;
  const size_t alloc = huge ? (m->bytes_ + kHuge - 1) / kHuge * kHuge : (m->bytes_ + 63) / 64 * 64;
  m->data_ = static_cast<uint8_t*>(std::aligned_alloc(huge ? kHuge : 64, alloc));
  if (!m->data_) fail("cannot allocate ", m->bytes_, " bytes for packed weights");
#ifdef MADV_HUGEPAGE
  if (huge) madvise(m->data_, alloc, MADV_HUGEPAGE);
#endif
  for (int64_t p = 0; p < n_panels; ++p) pack_panel(t, w, rows, cols, p * kPanelRows, m->data_ + p * m->panel_bytes_);
  g_packed_bytes.fetch_add(m->bytes_);
  if (release_source) release_file_pages(w, dtype_row_bytes(t, cols) * rows);
  return m;
}

PackedMatrix::~PackedMatrix() {
  g_packed_bytes.fetch_sub(bytes_);
  std::free(data_);
}

size_t packed_bytes_in_use() { return g_packed_bytes.load(); }

void matmul(const void* w, DType wtype, int64_t rows, int64_t cols, const float* x, int64_t n_tokens, float* y,
            ThreadPool& pool, const PackedMatrix* packed) {
  const TypeTraits* tt = type_traits(wtype);
  if (!tt || !tt->vec_dot) fail("matmul: no kernels for weight type ", dtype_name(wtype));
  if (rows <= 0 || n_tokens <= 0) return;
  if (tt->gemm_panel_f32 && wtype == DType::F16) {
    if (packed && (packed->type() != wtype || packed->rows() != rows || packed->cols() != cols))
      fail("matmul: packed weights of another shape or type");
    matmul_panels_f32(tt->gemm_panel_f32, w, wtype, rows, cols, x, n_tokens, y, pool, packed);
    return;
  }
  if (tt->gemm_panel && panel_supported(wtype) && cols % kQK == 0) {
    if (packed && (packed->type() != wtype || packed->rows() != rows || packed->cols() != cols))
      fail("matmul: packed weights of another shape or type");
    matmul_panels(tt, w, wtype, rows, cols, x, n_tokens, y, pool, packed);
    return;
  }
  matmul_vec_dot(tt, w, wtype, rows, cols, x, n_tokens, y, pool);
}

}  // namespace lineage
