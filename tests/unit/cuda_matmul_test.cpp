// The CUDA weight-matrix kernels (kernels/cuda/matmul*.cu) against the
// reference device, and the batch rule: a row's result is bitwise the same
// alone, in a small batch (warp-per-row kernel) or in a large one (tensor
// core tiles). GPU tests skip without a GPU; the packed-layout test runs
// anywhere the CUDA backend is built.
#ifdef LINEAGE_HAVE_CUDA
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/act_layout.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/cuda/matmul_layout.h"
#include "kernels/device.h"
#include "kernels_test_util.h"
#include "tensor/fp16.h"

namespace lineage {
namespace {

using test::random_floats;
using test::random_row;

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K};

bool is_k(DType t) { return t == DType::Q4_K || t == DType::Q6_K; }

// rows x cols weights of type t in the GGUF layout, rows of varied scale.
std::vector<uint8_t> make_weights(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  const size_t rb = dtype_row_bytes(t, cols);
  std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = random_row(t, cols, seed * 7919u + static_cast<uint32_t>(r));
    std::memcpy(w.data() + r * rb, row.data(), rb);
  }
  return w;
}

// Shapes with ragged segments, rows not a multiple of any tile, and
// columns not a multiple of 16 for the float types.
std::vector<std::pair<int64_t, int64_t>> shapes(DType t) {
  if (is_k(t)) return {{37, 256}, {70, 1280}, {65, 2816}};
  if (t == DType::Q8_0 || t == DType::Q4_0) return {{37, 96}, {130, 1056}, {64, 4096}};
  return {{37, 72}, {19, 1000}, {70, 64}};
}

// Bits of two float vectors equal; prints the first difference.
::testing::AssertionResult bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes " << a.size() << " and " << b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], 4) != 0)
      return ::testing::AssertionFailure() << "first difference at " << i << ": " << a[i] << " vs " << b[i] << " (bits "
                                           << std::hex << f32_to_bits(a[i]) << " vs " << f32_to_bits(b[i]) << ")";
  return ::testing::AssertionSuccess();
}

// A device buffer freed with its device.
struct Buf {
  std::shared_ptr<Device> d;
  void* p = nullptr;
  size_t bytes = 0;
  Buf(std::shared_ptr<Device> dev, size_t n) : d(std::move(dev)), p(d->alloc(n)), bytes(n) {}
  ~Buf() { d->free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  float* f() const { return static_cast<float*>(p); }
};

struct Mat {
  std::shared_ptr<Device> d;
  DevMatrix m;
  Mat(std::shared_ptr<Device> dev, DType t, int64_t cols, const std::vector<uint8_t>& w, int64_t rows, int n_stack = 1)
      : d(std::move(dev)) {
    const MatrixPart part{w.data(), rows};
    m = d->upload_matrix(t, cols, std::span<const MatrixPart>(&part, 1), n_stack);
  }
  ~Mat() { d->free_matrix(m); }
  Mat(const Mat&) = delete;
  Mat& operator=(const Mat&) = delete;
};

std::vector<uint8_t> download_bytes(Device& d, const void* p, size_t bytes) {
  std::vector<uint8_t> h(bytes);
  d.synchronize();
  d.download(h.data(), p, bytes);
  return h;
}

std::vector<float> download_floats(Device& d, const float* p, size_t n) {
  std::vector<float> h(n);
  d.synchronize();
  d.download(h.data(), p, n * 4);
  return h;
}

// Activation bytes of n rows made by the reference device's convert(): the
// exact bytes both devices multiply, so differences come from the products.
std::vector<uint8_t> ref_act(Device& ref, const std::vector<float>& x, int64_t n, int64_t cols, ActFormat f) {
  Buf xs(std::shared_ptr<Device>(&ref, [](Device*) {}), x.size() * 4);
  ref.upload(xs.p, x.data(), x.size() * 4);
  const size_t bytes = ref.act_bytes(f, n, cols);
  Buf out(std::shared_ptr<Device>(&ref, [](Device*) {}), bytes);
  ref.convert(xs.f(), n, cols, f, out.p);
  return download_bytes(ref, out.p, bytes);
}

// Rows [first, first + count) of an activation buffer of n rows, laid out
// as a buffer of `count` rows.
std::vector<uint8_t> slice_act(const std::vector<uint8_t>& all, ActFormat f, int64_t n, int64_t cols, int64_t first,
                               int64_t count) {
  if (f != ActFormat::Q8) {
    const size_t es = f == ActFormat::F32 ? 4 : 2;
    const size_t row = es * static_cast<size_t>(cols);
    return std::vector<uint8_t>(all.begin() + first * row, all.begin() + (first + count) * row);
  }
  std::vector<uint8_t> out(cuda::q8_bytes(count, cols));
  const cuda::Q8Planes src = cuda::q8_planes(const_cast<uint8_t*>(all.data()), n, cols);
  const cuda::Q8Planes dst = cuda::q8_planes(out.data(), count, cols);
  const int64_t nb = cols / 32;
  std::memcpy(dst.q, src.q + first * cols, static_cast<size_t>(count * cols));
  std::memcpy(dst.d, src.d + first * nb, static_cast<size_t>(count * nb) * 4);
  std::memcpy(dst.s, src.s + first * nb, static_cast<size_t>(count * nb) * 4);
  return out;
}

// Activation row t as the floats it stands for.
std::vector<float> act_values(const std::vector<uint8_t>& a, ActFormat f, int64_t n, int64_t cols, int64_t t) {
  std::vector<float> v(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) {
    if (f == ActFormat::F32) {
      std::memcpy(&v[i], a.data() + (t * cols + i) * 4, 4);
    } else if (f != ActFormat::Q8) {
      uint16_t h;
      std::memcpy(&h, a.data() + (t * cols + i) * 2, 2);
      v[i] = f == ActFormat::F16 ? fp16_to_f32(h) : bf16_to_f32(h);
    } else {
      const cuda::Q8Planes p = cuda::q8_planes(const_cast<uint8_t*>(a.data()), n, cols);
      v[i] = p.d[t * (cols / 32) + i / 32] * static_cast<float>(p.q[t * cols + i]);
    }
  }
  return v;
}

class CudaMatmul : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    gpu = open_device("cuda");
    ref = open_device("ref");
  }

  // y = w * act (n rows) on the GPU from host activation bytes.
  std::vector<float> gpu_matmul(const DevMatrix& w, const std::vector<uint8_t>& act, int64_t n) {
    Buf a(gpu, act.size());
    gpu->upload(a.p, act.data(), act.size());
    Buf y(gpu, static_cast<size_t>(n * w.rows) * 4);
    gpu->matmul(w, a.p, n, y.f(), false);
    return download_floats(*gpu, y.f(), static_cast<size_t>(n * w.rows));
  }

  std::vector<float> ref_matmul(const DevMatrix& w, const std::vector<uint8_t>& act, int64_t n) {
    Buf a(ref, act.size());
    ref->upload(a.p, act.data(), act.size());
    Buf y(ref, static_cast<size_t>(n * w.rows) * 4);
    ref->matmul(w, a.p, n, y.f(), false);
    return download_floats(*ref, y.f(), static_cast<size_t>(n * w.rows));
  }

  std::shared_ptr<Device> gpu, ref;
};

// Every type and shape against the reference device (exact dot products in
// double of the same weight and activation values). The GPU sums exact
// integer block sums (quantized types) or exact products (float types) in
// float: an output goes through at most L + S + 2 < 40 chained roundings
// (blocks of a segment, then segments), each within 2^-24 of a partial sum
// no larger than 4 sum |w_i x_i| (the larger of Q4_K's two terms per block,
// which may cancel), so the error stays under 40 * 2^-24 * 4 = 1e-5 of
// sum |w_i x_i|; the tensor cores' own float accumulation for F16 / BF16
// adds a few units in the last place per 16-column step. Checked: 4e-5.
TEST_F(CudaMatmul, MatchesReference) {
  const int64_t batch[] = {1, 2, 3, 8, 9, 17, 64, 300};
  for (DType t : kTypes) {
    const ActFormat f = act_format(t);
    for (auto [rows, cols] : shapes(t)) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " " + std::to_string(rows) + "x" + std::to_string(cols));
      const auto wbytes = make_weights(t, rows, cols, static_cast<uint32_t>(rows + cols));
      Mat wg(gpu, t, cols, wbytes, rows), wr(ref, t, cols, wbytes, rows);
      const auto x = random_floats(300 * cols, static_cast<uint32_t>(cols * 3 + 1));
      const auto all = ref_act(*ref, x, 300, cols, f);
      std::vector<std::vector<float>> wrow(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r)
        wrow[r] = test::dequantize(t, wbytes.data() + r * dtype_row_bytes(t, cols), cols);
      for (int64_t n : batch) {
        SCOPED_TRACE("n = " + std::to_string(n));
        const auto act = slice_act(all, f, 300, cols, 0, n);
        const auto yg = gpu_matmul(wg.m, act, n);
        const auto yr = ref_matmul(wr.m, act, n);
        for (int64_t tk = 0; tk < n; ++tk) {
          const auto xv = act_values(act, f, n, cols, tk);
          for (int64_t r = 0; r < rows; ++r) {
            double mag = 0;
            for (int64_t i = 0; i < cols; ++i) mag += std::fabs(static_cast<double>(wrow[r][i]) * xv[i]);
            const size_t o = static_cast<size_t>(tk * rows + r);
            ASSERT_LE(std::fabs(static_cast<double>(yg[o]) - yr[o]), 4e-5 * mag + 1e-30)
                << "token " << tk << " row " << r << ": gpu " << yg[o] << " ref " << yr[o] << " (sum |w x| " << mag << ")";
          }
        }
      }
    }
  }
}

// A row alone (n = 1, 2, 3: warp-per-row kernel), in n = 9, 17, 64 (tile
// kernel) and in n = 300 gives the same bits.
TEST_F(CudaMatmul, RowResultIndependentOfBatch) {
  for (DType t : kTypes) {
    const ActFormat f = act_format(t);
    for (auto [rows, cols] : shapes(t)) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " " + std::to_string(rows) + "x" + std::to_string(cols));
      const auto wbytes = make_weights(t, rows, cols, static_cast<uint32_t>(rows * 5 + cols));
      Mat wg(gpu, t, cols, wbytes, rows);
      const auto x = random_floats(300 * cols, static_cast<uint32_t>(cols + 11));
      const auto all = ref_act(*ref, x, 300, cols, f);
      const auto full = gpu_matmul(wg.m, all, 300);
      const std::pair<int64_t, int64_t> slices[] = {{0, 1},  {7, 1},  {150, 1}, {299, 1}, {5, 2},   {40, 3},
                                                    {0, 9},  {291, 9}, {3, 17},  {100, 64}, {236, 64}};
      for (auto [first, count] : slices) {
        SCOPED_TRACE("rows " + std::to_string(first) + " + " + std::to_string(count));
        const auto part = gpu_matmul(wg.m, slice_act(all, f, 300, cols, first, count), count);
        const std::vector<float> want(full.begin() + first * rows, full.begin() + (first + count) * rows);
        ASSERT_TRUE(bitwise_equal(part, want));
      }
    }
  }
}

// accumulate adds the product to y with one rounding, and ldy > rows writes
// into wider rows without touching the gap.
TEST_F(CudaMatmul, AccumulateAndRowStride) {
  for (DType t : kTypes) {
    SCOPED_TRACE(dtype_name(t));
    const ActFormat f = act_format(t);
    const int64_t rows = 45, cols = is_k(t) ? 512 : 160, ldy = rows + 7;
    const auto wbytes = make_weights(t, rows, cols, 99);
    Mat wg(gpu, t, cols, wbytes, rows);
    for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{70}}) {
      SCOPED_TRACE("n = " + std::to_string(n));
      const auto act = ref_act(*ref, random_floats(n * cols, 5), n, cols, f);
      const auto plain = gpu_matmul(wg.m, act, n);
      const auto init = random_floats(n * ldy, 17);
      Buf a(gpu, act.size());
      gpu->upload(a.p, act.data(), act.size());
      Buf y(gpu, init.size() * 4);
      gpu->upload(y.p, init.data(), init.size() * 4);
      gpu->matmul(wg.m, a.p, n, y.f(), true, ldy);
      const auto got = download_floats(*gpu, y.f(), init.size());
      std::vector<float> want = init;
      for (int64_t tk = 0; tk < n; ++tk)
        for (int64_t r = 0; r < rows; ++r) want[tk * ldy + r] = init[tk * ldy + r] + plain[tk * rows + r];
      ASSERT_TRUE(bitwise_equal(got, want));
    }
  }
}

// Each (token, expert) pair equals matmul() of that expert's matrix alone
// on that activation row, bitwise; 37 rows per expert, so the F16 / BF16
// experts start inside a 16-row tile.
TEST_F(CudaMatmul, ExpertsEqualSingleMatrices) {
  const int n_expert = 4, k = 2;
  const int64_t n = 6, rows = 37;
  for (DType t : kTypes) {
    SCOPED_TRACE(dtype_name(t));
    const ActFormat f = act_format(t);
    const int64_t cols = is_k(t) ? 512 : 96;
    const auto wbytes = make_weights(t, rows * n_expert, cols, 1234);
    const size_t eb = dtype_row_bytes(t, cols) * rows;
    Mat stacked(gpu, t, cols, wbytes, rows * n_expert, n_expert);
    std::vector<std::unique_ptr<Mat>> single;
    for (int e = 0; e < n_expert; ++e)
      single.push_back(std::make_unique<Mat>(
          gpu, t, cols, std::vector<uint8_t>(wbytes.begin() + e * eb, wbytes.begin() + (e + 1) * eb), rows));
    std::vector<int32_t> ids(static_cast<size_t>(n * k));
    std::mt19937 rng(7);
    for (auto& id : ids) id = static_cast<int32_t>(rng() % n_expert);
    Buf ids_dev(gpu, ids.size() * 4);
    gpu->upload(ids_dev.p, ids.data(), ids.size() * 4);
    for (bool per_pair : {false, true}) {
      SCOPED_TRACE(per_pair ? "activation per pair" : "activation per token");
      const int64_t n_act = per_pair ? n * k : n;
      const auto act = ref_act(*ref, random_floats(n_act * cols, 21), n_act, cols, f);
      Buf a(gpu, act.size());
      gpu->upload(a.p, act.data(), act.size());
      Buf y(gpu, static_cast<size_t>(n * k * rows) * 4);
      gpu->matmul_experts(stacked.m, a.p, per_pair, static_cast<const int32_t*>(ids_dev.p), n, k, y.f());
      const auto got = download_floats(*gpu, y.f(), static_cast<size_t>(n * k * rows));
      for (int64_t p = 0; p < n * k; ++p) {
        SCOPED_TRACE("pair " + std::to_string(p) + ", expert " + std::to_string(ids[p]));
        const int64_t row = per_pair ? p : p / k;
        const auto want = gpu_matmul(single[ids[p]]->m, slice_act(act, f, n_act, cols, row, 1), 1);
        ASSERT_TRUE(bitwise_equal(std::vector<float>(got.begin() + p * rows, got.begin() + (p + 1) * rows), want));
      }
    }
  }
}

// An expert id out of range reads nothing and marks the pair's outputs NaN.
TEST_F(CudaMatmul, ExpertIdOutOfRangeGivesNaN) {
  const int64_t rows = 20, cols = 64;
  const auto wbytes = make_weights(DType::Q8_0, rows * 2, cols, 3);
  Mat stacked(gpu, DType::Q8_0, cols, wbytes, rows * 2, 2);
  const auto act = ref_act(*ref, random_floats(cols, 4), 1, cols, ActFormat::Q8);
  const std::vector<int32_t> ids = {1, 9};
  Buf ids_dev(gpu, 8), a(gpu, act.size()), y(gpu, static_cast<size_t>(2 * rows) * 4);
  gpu->upload(ids_dev.p, ids.data(), 8);
  gpu->upload(a.p, act.data(), act.size());
  gpu->matmul_experts(stacked.m, a.p, false, static_cast<const int32_t*>(ids_dev.p), 1, 2, y.f());
  const auto got = download_floats(*gpu, y.f(), static_cast<size_t>(2 * rows));
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_FALSE(std::isnan(got[r])) << r;
    EXPECT_TRUE(std::isnan(got[rows + r])) << r;
  }
}

// Embedding rows equal the CPU reference's to_float of the row, bitwise.
TEST_F(CudaMatmul, EmbedEqualsToFloat) {
  for (DType t : kTypes) {
    SCOPED_TRACE(dtype_name(t));
    const int64_t rows = 50, cols = is_k(t) ? 768 : 200 + (t == DType::F16 || t == DType::BF16 || t == DType::F32 ? 3 : 24);
    const auto wbytes = make_weights(t, rows, cols, 77);
    Mat table(gpu, t, cols, wbytes, rows);
    const std::vector<int32_t> tokens = {3, 0, 49, 3, 17, 48};
    Buf tk(gpu, tokens.size() * 4), x(gpu, tokens.size() * static_cast<size_t>(cols) * 4);
    gpu->upload(tk.p, tokens.data(), tokens.size() * 4);
    gpu->embed(table.m, static_cast<const int32_t*>(tk.p), static_cast<int64_t>(tokens.size()), x.f());
    const auto got = download_floats(*gpu, x.f(), tokens.size() * static_cast<size_t>(cols));
    for (size_t i = 0; i < tokens.size(); ++i) {
      SCOPED_TRACE("token " + std::to_string(tokens[i]));
      const auto want = test::dequantize(t, wbytes.data() + tokens[i] * dtype_row_bytes(t, cols), cols);
      ASSERT_TRUE(bitwise_equal(std::vector<float>(got.begin() + i * cols, got.begin() + (i + 1) * cols), want));
    }
  }
}

// A product recorded into a graph and replayed gives the direct call's bits.
TEST_F(CudaMatmul, ReplayedGraphEqualsDirectCall) {
  for (DType t : {DType::Q4_0, DType::F16}) {
    SCOPED_TRACE(dtype_name(t));
    const ActFormat f = act_format(t);
    const int64_t rows = 96, cols = 256;
    const auto wbytes = make_weights(t, rows, cols, 8);
    Mat wg(gpu, t, cols, wbytes, rows);
    for (int64_t n : {int64_t{1}, int64_t{40}}) {
      const auto act = ref_act(*ref, random_floats(n * cols, 9), n, cols, f);
      const auto direct = gpu_matmul(wg.m, act, n);
      Buf a(gpu, act.size()), y(gpu, static_cast<size_t>(n * rows) * 4);
      gpu->upload(a.p, act.data(), act.size());
      gpu->fill_zero(y.p, y.bytes);
      auto graph = gpu->capture([&] { gpu->matmul(wg.m, a.p, n, y.f(), false); });
      if (!graph) GTEST_SKIP() << "this device does not record graphs";
      gpu->replay(*graph);
      ASSERT_TRUE(bitwise_equal(download_floats(*gpu, y.f(), static_cast<size_t>(n * rows)), direct));
    }
  }
}

// ---- the packed layout, on the host (no GPU needed) ----------------------------

// Value `col` of row `row` read back from the documented device layout
// (matmul_layout.h), written here independently of the device code.
float packed_value(DType t, const uint8_t* p, int64_t rows, int64_t cols, int64_t row, int64_t col) {
  if (t == DType::F32) {
    float v;
    std::memcpy(&v, p + (row * cols + col) * 4, 4);
    return v;
  }
  if (t == DType::F16 || t == DType::BF16) {
    const int64_t nc = (cols + 15) / 16;
    const int m = static_cast<int>(row % 16), c = static_cast<int>(col % 16);
    const int lane = 4 * (m % 8) + (c % 8) / 2, reg = (m >= 8) + 2 * (c >= 8);
    uint16_t h;
    std::memcpy(&h, p + (((row / 16) * nc + col / 16) * 512 + lane * 16 + reg * 4 + (c % 2) * 2), 2);
    return t == DType::F16 ? fp16_to_f32(h) : bf16_to_f32(h);
  }
  const int64_t nb = cols / 32, L = (nb + 31) / 32, S = (nb + L - 1) / L;
  const int64_t b = col / 32, l = col % 32, slot = (b % L) * S + b / L;
  const int64_t qb = t == DType::Q8_0 ? 32 : 16, mb = t == DType::Q4_K ? 8 : t == DType::Q6_K ? 12 : 2;
  const uint8_t* q = p + (row * L * S + slot) * qb;
  const uint8_t* m = p + cuda::align256(static_cast<size_t>(rows * L * S * qb)) + (row * L * S + slot) * mb;
  uint16_t h;
  std::memcpy(&h, m, 2);
  if (t == DType::Q8_0) return static_cast<int8_t>(q[l]) * fp16_to_f32(h);
  const int nib = l < 16 ? q[l] & 15 : q[l - 16] >> 4;
  if (t == DType::Q4_0) return static_cast<float>(nib - 8) * fp16_to_f32(h);
  if (t == DType::Q4_K) {
    float ws, wm;
    std::memcpy(&ws, m, 4);
    std::memcpy(&wm, m + 4, 4);
    return ws * static_cast<float>(nib) - wm;
  }
  // Q6_K: top bits of value v (0..31): word (v % 16) / 4 % 2, byte v % 4,
  // bit pair (v % 16 >= 8 ? 2 : 0) + (v >= 16 ? 1 : 0).
  const int v = static_cast<int>(l), w = (v % 16) / 4 % 2, pair = ((v % 16) >= 8 ? 2 : 0) + (v >= 16 ? 1 : 0);
  const int top = (m[4 * w + v % 4] >> (2 * pair)) & 3;
  std::memcpy(&h, m + 8, 2);
  const int sc = static_cast<int8_t>(m[v < 16 ? 10 : 11]);
  return fp16_to_f32(h) * static_cast<float>(sc) * static_cast<float>((nib | (top << 4)) - 32);
}

TEST(CudaMatmulLayout, PackedMatrixReadsBackAsToFloat) {
  for (DType t : kTypes) {
    SCOPED_TRACE(dtype_name(t));
    for (auto [rows, cols] : shapes(t)) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
      const auto w = make_weights(t, rows, cols, 5);
      // Two parts, as upload_matrix concatenates wq / wk / wv.
      const int64_t r1 = rows / 3;
      const MatrixPart parts[] = {{w.data(), r1}, {w.data() + r1 * dtype_row_bytes(t, cols), rows - r1}};
      std::vector<uint8_t> packed(cuda::packed_bytes(t, rows, cols));
      cuda::pack_matrix(t, cols, parts, 1, packed.data());
      for (int64_t r = 0; r < rows; ++r) {
        const auto want = test::dequantize(t, w.data() + r * dtype_row_bytes(t, cols), cols);
        for (int64_t c = 0; c < cols; ++c) {
          const float got = packed_value(t, packed.data(), rows, cols, r, c);
          ASSERT_EQ(f32_to_bits(got), f32_to_bits(want[c])) << "row " << r << " col " << c << ": " << got << " vs " << want[c];
        }
      }
    }
  }
}

TEST(CudaMatmulLayout, SegmentsFollowTheWidthOnly) {
  // 33 blocks: 17 segments of 2 (the last holds 1); 128 blocks: 32 of 4.
  const cuda::QuantGeom a = cuda::quant_geom(33 * 32), b = cuda::quant_geom(4096);
  EXPECT_EQ(a.L, 2);
  EXPECT_EQ(a.S, 17);
  EXPECT_EQ(b.L, 4);
  EXPECT_EQ(b.S, 32);
  for (int64_t nb = 1; nb <= 400; ++nb) {  // every block has one slot
    const cuda::QuantGeom g = cuda::quant_geom(nb * 32);
    std::vector<int> seen(static_cast<size_t>(g.slots()), 0);
    for (int blk = 0; blk < g.nb; ++blk) ++seen[static_cast<size_t>(g.slot(blk))];
    for (int64_t s = 0; s < g.slots(); ++s) ASSERT_LE(seen[s], 1) << "nb " << nb << " slot " << s;
    ASSERT_LE(g.S, 32);
    ASSERT_GT(g.nb, (g.S - 1) * g.L) << "nb " << nb << ": an empty segment";
  }
}

TEST(CudaMatmulLayout, RejectsWhatItCannotMultiply) {
  EXPECT_FALSE(cuda::matmul_supports(DType::Q4_1));
  EXPECT_FALSE(cuda::matmul_supports(DType::Q5_K));
  EXPECT_THROW(cuda::packed_bytes(DType::Q4_1, 4, 64), Error);
  EXPECT_THROW(cuda::packed_bytes(DType::Q4_0, 4, 48), Error);   // not whole blocks
  EXPECT_THROW(cuda::packed_bytes(DType::Q4_K, 4, 512 + 32), Error);
  EXPECT_THROW(cuda::packed_bytes(DType::F16, 0, 64), Error);
  std::vector<uint8_t> w(dtype_row_bytes(DType::Q8_0, 64) * 3);
  const MatrixPart part{w.data(), 3};
  std::vector<uint8_t> out(cuda::packed_bytes(DType::Q8_0, 3, 64));
  EXPECT_THROW(cuda::pack_matrix(DType::Q8_0, 64, std::span<const MatrixPart>(&part, 1), 2, out.data()), Error);
}

}  // namespace
}  // namespace lineage
#endif  // LINEAGE_HAVE_CUDA
