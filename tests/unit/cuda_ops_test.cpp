// The CUDA device's memory, recording and non-matmul kernels against the
// reference device (kernels/device_ref.cpp), which states the arithmetic in
// scalar C++ with double accumulations. Where both compute the same float
// operations in the same order (rope, the cache store, Q8 rounding of the
// same values, moe_combine) results must be bitwise equal; where the GPU
// sums in float or uses its own expf they must agree to float rounding.
// Attention must also give a row the same bits in every kind of call.
#ifdef LINEAGE_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/act_layout.h"
#include "kernels/cuda/cuda_device.h"
#include "kernels/device.h"
#include "tensor/fp16.h"

namespace lineage {
namespace {

#define REQUIRE_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU"

// Deterministic values in [-1, 1).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9e3779b97f4a7c15ull + 1) {}
  float next() {
    s_ = s_ * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<int64_t>(s_ >> 40) - (1 << 23)) / static_cast<float>(1 << 23);
  }
  std::vector<float> floats(size_t n, float scale = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = next() * scale;
    return v;
  }
  std::vector<uint16_t> halves(size_t n, float scale = 1.0f) {
    std::vector<uint16_t> v(n);
    for (uint16_t& x : v) x = f32_to_fp16(next() * scale);
    return v;
  }

 private:
  uint64_t s_;
};

// Device allocations freed with the test.
class Arena {
 public:
  explicit Arena(Device& d) : d_(d) {}
  ~Arena() {
    for (void* p : ptrs_) d_.free(p);
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* alloc(size_t bytes) {
    void* p = d_.alloc(std::max<size_t>(bytes, 256));
    ptrs_.push_back(p);
    return p;
  }
  template <class T>
  T* put(const std::vector<T>& v) {
    T* p = static_cast<T*>(alloc(v.size() * sizeof(T)));
    d_.upload(p, v.data(), v.size() * sizeof(T));
    return p;
  }
  template <class T>
  std::vector<T> get(const void* p, size_t n) {
    std::vector<T> v(n);
    d_.synchronize();
    d_.download(v.data(), p, n * sizeof(T));
    return v;
  }
  Device& dev() { return d_; }

 private:
  Device& d_;
  std::vector<void*> ptrs_;
};

// The GPU itself (open_device("cuda") would follow LINEAGE_DEVICE).
struct Devices {
  std::shared_ptr<Device> gpu = make_cuda_device(0);
  std::shared_ptr<Device> ref = open_device("ref");
};

// Bitwise equality, reporting the first difference and how many there are.
template <class T>
void expect_same(const std::string& what, const std::vector<T>& got, const std::vector<T>& want) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0 && bad++ == 0) first = i;
  if (bad == 0) return;
  ADD_FAILURE() << what << ": " << bad << " of " << got.size() << " differ; first at " << first << ": got "
                << +got[first] << ", want " << +want[first];
}

// |got - want| <= atol + rtol * |want| everywhere.
void expect_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double atol,
                  double rtol) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    worst = std::max(worst, err);
    if (!(err <= atol + rtol * std::fabs(want[i])) && bad++ == 0) first = i;
  }
  if (bad == 0) return;
  ADD_FAILURE() << what << ": " << bad << " of " << got.size() << " outside " << atol << " + " << rtol
                << " * |want|; first at " << first << ": got " << got[first] << ", want " << want[first]
                << " (largest error " << worst << ")";
}

// The planes of n rows of Q8 activations, read back from a device.
struct Q8Rows {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> s;
};

Q8Rows read_q8(Arena& a, const void* buf, int64_t n, int64_t cols) {
  const size_t bytes = cuda::q8_bytes(n, cols);
  std::vector<uint8_t> raw = a.get<uint8_t>(buf, bytes);
  const cuda::Q8Planes p = cuda::q8_planes(raw.data(), n, cols);
  const size_t nb = static_cast<size_t>(n * cols / 32);
  Q8Rows r;
  r.q.assign(p.q, p.q + n * cols);
  r.d.assign(p.d, p.d + nb);
  r.s.assign(p.s, p.s + nb);
  return r;
}

// Q8 of values that agree to float rounding: the same scales to rtol, q
// within one step, and s the sum of the block's q on the GPU side.
void expect_q8_close(const std::string& what, const Q8Rows& got, const Q8Rows& want, double rtol) {
  expect_close(what + " scales", got.d, want.d, 0, rtol);
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.q.size(); ++i)
    if (std::abs(got.q[i] - want.q[i]) > 1 && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": first q more than one step off at " << first << ": got " << +got.q[first]
                     << ", want " << +want.q[first];
  for (size_t b = 0; b < got.s.size(); ++b) {
    int32_t sum = 0;
    for (size_t i = 0; i < 32; ++i) sum += got.q[b * 32 + i];
    if (sum != got.s[b]) {
      ADD_FAILURE() << what << ": block " << b << " has s " << got.s[b] << " but its q sum to " << sum;
      break;
    }
  }
}

const ActFormat kFormats[] = {ActFormat::F32, ActFormat::F16, ActFormat::BF16, ActFormat::Q8};

const char* format_name(ActFormat f) {
  switch (f) {
    case ActFormat::F32: return "F32";
    case ActFormat::F16: return "F16";
    case ActFormat::BF16: return "BF16";
    case ActFormat::Q8: return "Q8";
  }
  return "?";
}

// The n x cols activation buffer in format f, as comparable parts.
struct ActOut {
  std::vector<float> f32;
  std::vector<uint16_t> h16;
  Q8Rows q8;
};

ActOut read_act(Arena& a, ActFormat f, const void* buf, int64_t n, int64_t cols) {
  ActOut o;
  const size_t count = static_cast<size_t>(n * cols);
  if (f == ActFormat::F32) o.f32 = a.get<float>(buf, count);
  if (f == ActFormat::F16 || f == ActFormat::BF16) o.h16 = a.get<uint16_t>(buf, count);
  if (f == ActFormat::Q8) o.q8 = read_q8(a, buf, n, cols);
  return o;
}

// ---- memory ------------------------------------------------------------------

TEST(CudaOps, NameAndMemory) {
  REQUIRE_GPU();
  Devices d;
  EXPECT_EQ(d.gpu->name().rfind("cuda:0 ", 0), 0u) << d.gpu->name();
  size_t free_b = 0, total_b = 0;
  d.gpu->memory(free_b, total_b);
  EXPECT_GT(total_b, 0u);
  EXPECT_LE(free_b, total_b);
  EXPECT_EQ(d.gpu->act_bytes(ActFormat::F32, 3, 64), 3u * 64 * 4);
  EXPECT_EQ(d.gpu->act_bytes(ActFormat::BF16, 3, 64), 3u * 64 * 2);
  EXPECT_EQ(d.gpu->act_bytes(ActFormat::Q8, 3, 64), cuda::q8_bytes(3, 64));
}

TEST(CudaOps, CopiesRoundTrip) {
  REQUIRE_GPU();
  Devices d;
  Device& g = *d.gpu;
  Arena a(g);
  Rng rng(1);
  const size_t n = 100003;  // not a multiple of any vector width
  const std::vector<float> x = rng.floats(n);
  float* src = a.put(x);
  EXPECT_EQ(a.get<float>(src, n), x);

  float* dst = static_cast<float*>(a.alloc(n * sizeof(float)));
  g.copy(dst, src, n * sizeof(float));
  EXPECT_EQ(a.get<float>(dst, n), x);

  g.fill_zero(dst + 10, 1000 * sizeof(float));
  std::vector<float> want = x;
  std::fill(want.begin() + 10, want.begin() + 1010, 0.0f);
  EXPECT_EQ(a.get<float>(dst, n), want);

  // Page-locked host buffers with stream-ordered copies, read after synchronize().
  float* host_in = static_cast<float*>(g.alloc_host(n * sizeof(float)));
  float* host_out = static_cast<float*>(g.alloc_host(n * sizeof(float)));
  for (size_t i = 0; i < n; ++i) host_in[i] = x[n - 1 - i];
  g.upload_async(dst, host_in, n * sizeof(float));
  g.download_async(host_out, dst, n * sizeof(float));
  g.synchronize();
  bool same = true;
  for (size_t i = 0; i < n && same; ++i) same = host_out[i] == x[n - 1 - i];
  EXPECT_TRUE(same);
  g.free_host(host_in);
  g.free_host(host_out);
}

TEST(CudaOps, AllocationFailureNamesTheSizeAndFreeMemory) {
  REQUIRE_GPU();
  Devices d;
  size_t free_b = 0, total_b = 0;
  d.gpu->memory(free_b, total_b);
  const size_t too_much = total_b + (size_t{1} << 30);
  try {
    d.gpu->alloc(too_much);
    FAIL() << "allocating " << too_much << " bytes succeeded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(std::to_string(too_much)), std::string::npos) << msg;
    EXPECT_NE(msg.find("free"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(total_b)), std::string::npos) << msg;
  }
  // The failure is not reported again by the next operation.
  Arena a(*d.gpu);
  const std::vector<float> x = {1, -2, 3, -4};
  float* p = a.put(x);
  d.gpu->convert(p, 1, 4, ActFormat::F16, a.alloc(64));
  EXPECT_NO_THROW(d.gpu->synchronize());
}

// ---- activation writers --------------------------------------------------------

// Rows with the cases Q8 rounding must get right: an all-zero block, a
// block whose scale is exactly 1 with values halfway between integers
// (ties go to even), and plain random blocks.
std::vector<float> convert_input(int64_t n, int64_t cols) {
  Rng rng(7);
  std::vector<float> x = rng.floats(static_cast<size_t>(n * cols), 3.0f);
  std::fill(x.begin(), x.begin() + 32, 0.0f);
  for (int i = 0; i < 32; ++i) x[32 + i] = (i % 2 ? -1.0f : 1.0f) * (static_cast<float>(i) + 0.5f);
  x[32 + 31] = 127.0f;
  return x;
}

TEST(CudaOps, ConvertIsBitwiseTheReference) {
  REQUIRE_GPU();
  Devices d;
  Arena ga(*d.gpu), ra(*d.ref);
  const int64_t n = 5, cols = 4096 + 96;
  const std::vector<float> x = convert_input(n, cols);
  const float* gx = ga.put(x);
  const float* rx = ra.put(x);
  for (ActFormat f : kFormats) {
    SCOPED_TRACE(format_name(f));
    void* gout = ga.alloc(d.gpu->act_bytes(f, n, cols));
    void* rout = ra.alloc(d.ref->act_bytes(f, n, cols));
    d.gpu->convert(gx, n, cols, f, gout);
    d.ref->convert(rx, n, cols, f, rout);
    const ActOut g = read_act(ga, f, gout, n, cols), r = read_act(ra, f, rout, n, cols);
    expect_same("f32", g.f32, r.f32);
    expect_same("16-bit", g.h16, r.h16);
    expect_same("q8 q", g.q8.q, r.q8.q);
    expect_same("q8 d", g.q8.d, r.q8.d);
    expect_same("q8 s", g.q8.s, r.q8.s);
  }
}

TEST(CudaOps, ConvertRefusesQ8RowsOfOddWidth) {
  REQUIRE_GPU();
  Devices d;
  Arena a(*d.gpu);
  void* x = a.alloc(4 * 48);
  EXPECT_THROW(d.gpu->convert(static_cast<float*>(x), 1, 48, ActFormat::Q8, a.alloc(4096)), Error);
}

// The GPU sums squares in a different (fixed) order, still in double: the
// scale agrees with the CPU's to float rounding (almost always exactly).
TEST(CudaOps, RmsnormMatchesReference) {
  REQUIRE_GPU();
  Devices d;
  for (int64_t cols : {4096, 96, 5120 + 32}) {
    SCOPED_TRACE("cols " + std::to_string(cols));
    Arena ga(*d.gpu), ra(*d.ref);
    const int64_t n = 7;
    Rng rng(static_cast<uint64_t>(cols));
    std::vector<float> x = rng.floats(static_cast<size_t>(n * cols), 4.0f);
    const std::vector<float> w = rng.floats(static_cast<size_t>(cols), 2.0f);
    const float* gx = ga.put(x);
    const float* rx = ra.put(x);
    const float* gw = ga.put(w);
    const float* rw = ra.put(w);
    for (ActFormat f : kFormats) {
      SCOPED_TRACE(format_name(f));
      void* gout = ga.alloc(d.gpu->act_bytes(f, n, cols));
      void* rout = ra.alloc(d.ref->act_bytes(f, n, cols));
      d.gpu->rmsnorm(gx, gw, n, cols, 1e-5f, f, gout);
      d.ref->rmsnorm(rx, rw, n, cols, 1e-5f, f, rout);
      const ActOut g = read_act(ga, f, gout, n, cols), r = read_act(ra, f, rout, n, cols);
      if (f == ActFormat::F32) expect_close("rmsnorm", g.f32, r.f32, 0, 3e-7);
      if (f == ActFormat::Q8) expect_q8_close("rmsnorm", g.q8, r.q8, 3e-7);
      if (f == ActFormat::F16 || f == ActFormat::BF16) {
        std::vector<float> gv(g.h16.size()), rv(r.h16.size());
        for (size_t i = 0; i < gv.size(); ++i) {
          gv[i] = f == ActFormat::F16 ? fp16_to_f32(g.h16[i]) : bf16_to_f32(g.h16[i]);
          rv[i] = f == ActFormat::F16 ? fp16_to_f32(r.h16[i]) : bf16_to_f32(r.h16[i]);
        }
        // One step of the 16-bit format at most (a float one ulp apart can
        // round to neighbouring halves).
        expect_close("rmsnorm", gv, rv, 6e-8, f == ActFormat::F16 ? 1.0 / 1024 : 1.0 / 128);
      }
    }
  }
}

// CUDA's expf is within 2 ulp of the correctly rounded value glibc gives.
TEST(CudaOps, SwigluMatchesReference) {
  REQUIRE_GPU();
  Devices d;
  for (int64_t ff : {1000, 2048}) {
    SCOPED_TRACE("ff " + std::to_string(ff));
    Arena ga(*d.gpu), ra(*d.ref);
    const int64_t n = 6;
    Rng rng(static_cast<uint64_t>(ff));
    const std::vector<float> gu = rng.floats(static_cast<size_t>(n * 2 * ff), 8.0f);
    const float* gx = ga.put(gu);
    const float* rx = ra.put(gu);
    for (ActFormat f : kFormats) {
      if (f == ActFormat::Q8 && ff % 32 != 0) continue;
      SCOPED_TRACE(format_name(f));
      void* gout = ga.alloc(d.gpu->act_bytes(f, n, ff));
      void* rout = ra.alloc(d.ref->act_bytes(f, n, ff));
      d.gpu->swiglu(gx, n, ff, f, gout);
      d.ref->swiglu(rx, n, ff, f, rout);
      const ActOut g = read_act(ga, f, gout, n, ff), r = read_act(ra, f, rout, n, ff);
      if (f == ActFormat::F32) expect_close("swiglu", g.f32, r.f32, 1e-30, 1e-6);
      if (f == ActFormat::Q8) expect_q8_close("swiglu", g.q8, r.q8, 1e-6);
      if (f == ActFormat::F16 || f == ActFormat::BF16) {
        std::vector<float> gv(g.h16.size()), rv(r.h16.size());
        for (size_t i = 0; i < gv.size(); ++i) {
          gv[i] = f == ActFormat::F16 ? fp16_to_f32(g.h16[i]) : bf16_to_f32(g.h16[i]);
          rv[i] = f == ActFormat::F16 ? fp16_to_f32(r.h16[i]) : bf16_to_f32(r.h16[i]);
        }
        expect_close("swiglu", gv, rv, 6e-8, f == ActFormat::F16 ? 1.0 / 1024 : 1.0 / 128);
      }
    }
  }
}

// ---- mixture of experts ---------------------------------------------------------

TEST(CudaOps, MoeRouteMatchesReference) {
  REQUIRE_GPU();
  Devices d;
  struct Case {
    int n_expert, k;
  };
  for (const Case c : {Case{8, 2}, Case{64, 6}, Case{4, 4}}) {
    SCOPED_TRACE(std::to_string(c.k) + " of " + std::to_string(c.n_expert));
    Arena ga(*d.gpu), ra(*d.ref);
    const int64_t n = 37;
    Rng rng(static_cast<uint64_t>(c.n_expert * 10 + c.k));
    std::vector<float> logits = rng.floats(static_cast<size_t>(n * c.n_expert), 4.0f);
    // Equal logits in one row: the lower index must come first.
    for (int e = 0; e < c.n_expert; ++e) logits[e] = e % 2 ? 1.0f : 0.5f;
    const float* gl = ga.put(logits);
    const float* rl = ra.put(logits);
    const size_t pairs = static_cast<size_t>(n * c.k);
    auto* gid = static_cast<int32_t*>(ga.alloc(pairs * 4));
    auto* rid = static_cast<int32_t*>(ra.alloc(pairs * 4));
    auto* gw = static_cast<float*>(ga.alloc(pairs * 4));
    auto* rw = static_cast<float*>(ra.alloc(pairs * 4));
    d.gpu->moe_route(gl, n, c.n_expert, c.k, gid, gw);
    d.ref->moe_route(rl, n, c.n_expert, c.k, rid, rw);
    expect_same("ids", ga.get<int32_t>(gid, pairs), ra.get<int32_t>(rid, pairs));
    expect_close("weights", ga.get<float>(gw, pairs), ra.get<float>(rw, pairs), 1e-7, 1e-6);
  }
}

// The same products and sums in the same order: bitwise.
TEST(CudaOps, MoeCombineIsBitwiseTheReference) {
  REQUIRE_GPU();
  Devices d;
  Arena ga(*d.gpu), ra(*d.ref);
  const int64_t n = 9, cols = 1000;
  const int k = 3;
  Rng rng(5);
  const std::vector<float> y = rng.floats(static_cast<size_t>(n * k * cols), 2.0f);
  const std::vector<float> w = rng.floats(static_cast<size_t>(n * k));
  const std::vector<float> x = rng.floats(static_cast<size_t>(n * cols));
  float* gx = ga.put(x);
  float* rx = ra.put(x);
  d.gpu->moe_combine(ga.put(y), ga.put(w), n, k, cols, gx);
  d.ref->moe_combine(ra.put(y), ra.put(w), n, k, cols, rx);
  expect_same("x", ga.get<float>(gx, x.size()), ra.get<float>(rx, x.size()));
}

// ---- rope and the KV cache -----------------------------------------------------

// One sequence's cache: 2 layers of n_head_kv heads (the tests use layer
// 1, so the layer offset is exercised).
size_t cache_halves(const QkvShape& s, int n_ctx) {
  return size_t{4} * static_cast<size_t>(s.n_head_kv) * static_cast<size_t>(n_ctx) * static_cast<size_t>(s.head_dim);
}

std::vector<double> inv_freqs(int rope_dim) {
  std::vector<double> f(static_cast<size_t>(rope_dim / 2));
  for (int i = 0; i < rope_dim / 2; ++i) f[i] = std::pow(10000.0, -2.0 * i / rope_dim) / (i % 3 == 0 ? 8.0 : 1.0);
  return f;
}

// Rows of several sequences, each with its own cache; the cache lists are
// parallel on both devices.
struct Rows {
  std::vector<int> seq;  // per row
  std::vector<int> pos;  // per row
};

std::vector<RowMeta> metas(const Rows& r, const std::vector<int>& n_ctx, const std::vector<void*>& caches) {
  std::vector<RowMeta> m(r.pos.size());
  for (size_t t = 0; t < m.size(); ++t) {
    m[t].pos = r.pos[t];
    m[t].n_ctx = n_ctx[r.seq[t]];
    m[t].kv = reinterpret_cast<uintptr_t>(caches[r.seq[t]]);
  }
  return m;
}

TEST(CudaOps, RopeStoreIsBitwiseTheReference) {
  REQUIRE_GPU();
  Devices d;
  for (int rope_dim : {64, 32}) {
    SCOPED_TRACE("rope_dim " + std::to_string(rope_dim));
    const QkvShape s{8, 2, 64, 8 * 64 + 2 * 2 * 64 + 16};  // padded rows
    const std::vector<int> n_ctx = {6000, 300};
    const Rows rows{{0, 0, 1, 0, 1, 0}, {0, 1, 299, 4999, 7, 5999}};
    const int64_t n = static_cast<int64_t>(rows.pos.size());
    Rng rng(static_cast<uint64_t>(rope_dim));
    const std::vector<float> qkv = rng.floats(static_cast<size_t>(n * s.row_stride), 3.0f);
    const std::vector<double> freq = inv_freqs(rope_dim);
    const KvLayer layer{s.n_head_kv};
    std::vector<std::vector<uint16_t>> got_cache, want_cache;
    std::vector<float> got_qkv, want_qkv;
    for (int side = 0; side < 2; ++side) {
      Device& dev = side == 0 ? *d.gpu : *d.ref;
      Arena a(dev);
      std::vector<void*> caches;
      for (int c : n_ctx) {
        caches.push_back(a.alloc(cache_halves(s, c) * 2));
        dev.fill_zero(caches.back(), cache_halves(s, c) * 2);
      }
      float* q = a.put(qkv);
      const RopeParams rope{rope_dim, a.put(freq)};
      dev.rope_store(q, s, a.put(metas(rows, n_ctx, caches)), n, rope, layer);
      (side == 0 ? got_qkv : want_qkv) = a.get<float>(q, qkv.size());
      for (size_t c = 0; c < n_ctx.size(); ++c)
        (side == 0 ? got_cache : want_cache).push_back(a.get<uint16_t>(caches[c], cache_halves(s, n_ctx[c])));
    }
    expect_same("rotated rows", got_qkv, want_qkv);
    for (size_t c = 0; c < n_ctx.size(); ++c) expect_same("cache " + std::to_string(c), got_cache[c], want_cache[c]);
  }
}

// ---- attention -------------------------------------------------------------------

struct AttnCase {
  QkvShape s;
  std::vector<int> n_ctx;  // per sequence
  AttentionParams p;
  std::vector<std::vector<uint16_t>> caches;  // per sequence, both layers
  std::vector<float> qkv;                     // one row per position of `all`
  Rows all;                                   // every row the case defines
};

AttnCase make_case(const QkvShape& s, std::vector<int> n_ctx, int window, const Rows& all, uint64_t seed) {
  AttnCase c;
  c.s = s;
  c.n_ctx = std::move(n_ctx);
  c.all = all;
  c.p.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  c.p.sliding_window = window;
  c.p.n_ctx_max = *std::max_element(c.n_ctx.begin(), c.n_ctx.end());
  Rng rng(seed);
  for (int n : c.n_ctx) c.caches.push_back(rng.halves(cache_halves(s, n)));
  // Larger queries spread the softmax weights.
  c.qkv = rng.floats(all.pos.size() * static_cast<size_t>(s.row_stride), 4.0f);
  return c;
}

// Attention of the rows `pick` (indices into c.all) in one call.
std::vector<float> run_attention(Device& dev, const AttnCase& c, const std::vector<int>& pick) {
  Arena a(dev);
  std::vector<void*> caches;
  for (const auto& h : c.caches) caches.push_back(a.put(h));
  Rows rows;
  std::vector<float> qkv;
  for (int i : pick) {
    rows.seq.push_back(c.all.seq[i]);
    rows.pos.push_back(c.all.pos[i]);
    qkv.insert(qkv.end(), c.qkv.begin() + static_cast<int64_t>(i) * c.s.row_stride,
               c.qkv.begin() + static_cast<int64_t>(i + 1) * c.s.row_stride);
  }
  const int64_t n = static_cast<int64_t>(pick.size());
  const size_t out_count = static_cast<size_t>(n * c.s.q_dim());
  float* out = static_cast<float*>(a.alloc(out_count * 4));
  const size_t scratch_bytes = dev.attention_scratch_bytes(c.s, n, c.p.n_ctx_max);
  void* scratch = scratch_bytes ? a.alloc(scratch_bytes) : nullptr;
  dev.attention(a.put(qkv), c.s, a.put(metas(rows, c.n_ctx, caches)), n, KvLayer{c.s.n_head_kv}, c.p, out, scratch);
  return a.get<float>(out, out_count);
}

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

// Row t's slice of a call's output.
std::vector<float> row_of(const std::vector<float>& out, const QkvShape& s, int t) {
  return std::vector<float>(out.begin() + static_cast<int64_t>(t) * s.q_dim(),
                            out.begin() + static_cast<int64_t>(t + 1) * s.q_dim());
}

// Float sums and expf against double: values are weighted means of F16
// values in [-1, 1], so an absolute bound fits.
constexpr double kAttnTol = 2e-5;

// GQA, three sequences of different contexts, positions on both sides of
// the 256-key split boundaries; a few rows (split-parallel) and the same
// rows among many (in-block) give the reference's values and each other's
// bits.
TEST(CudaOps, AttentionMatchesReferenceAcrossSplits) {
  REQUIRE_GPU();
  Devices d;
  const QkvShape s{8, 2, 64, (8 + 2 * 2) * 64};
  const Rows rows{{0, 0, 0, 1, 1, 2, 2, 2, 0, 2}, {0, 1, 255, 256, 257, 511, 512, 1099, 700, 1000}};
  const AttnCase c = make_case(s, {1024, 768, 1100}, 0, rows, 11);
  const std::vector<int> few = iota(static_cast<int>(rows.pos.size()));
  const std::vector<float> want = run_attention(*d.ref, c, few);
  const std::vector<float> got = run_attention(*d.gpu, c, few);
  expect_close("few rows", got, want, kAttnTol, 0);

  // The same rows repeated to 40: past the split-parallel limit (32 rows).
  std::vector<int> many;
  for (int r = 0; r < 4; ++r) many.insert(many.end(), few.begin(), few.end());
  const std::vector<float> got_many = run_attention(*d.gpu, c, many);
  for (size_t t = 0; t < many.size(); ++t)
    expect_same("row " + std::to_string(t) + " among 40", row_of(got_many, s, static_cast<int>(t)),
                row_of(got, s, many[t]));
}

TEST(CudaOps, AttentionSlidingWindow) {
  REQUIRE_GPU();
  Devices d;
  const QkvShape s{4, 4, 128, 3 * 4 * 128};  // no grouping, wide heads
  const Rows rows{{0, 0, 0, 0, 0, 0}, {0, 99, 100, 300, 512, 900}};
  for (int window : {100, 300}) {
    SCOPED_TRACE("window " + std::to_string(window));
    const AttnCase c = make_case(s, {1000}, window, rows, 12);
    const std::vector<int> all = iota(6);
    expect_close("window", run_attention(*d.gpu, c, all), run_attention(*d.ref, c, all), kAttnTol, 0);
  }
}

// A row alone (decode; split-parallel when it has several splits) gets the
// bits it gets inside a 300-row prefill call (in-block), for grouped
// heads, many heads per KV head (two head chunks) and a head size that is
// not a multiple of 8.
TEST(CudaOps, AttentionRowAloneEqualsRowInPrefill) {
  REQUIRE_GPU();
  Devices d;
  const QkvShape shapes[] = {{8, 2, 64, 12 * 64}, {16, 1, 128, 18 * 128}, {6, 3, 36, 12 * 36}};
  for (const QkvShape& s : shapes) {
    SCOPED_TRACE("heads " + std::to_string(s.n_head) + "/" + std::to_string(s.n_head_kv) + " of " +
                 std::to_string(s.head_dim));
    Rows rows;
    for (int i = 0; i < 300; ++i) {
      rows.seq.push_back(0);
      rows.pos.push_back(i);
    }
    const AttnCase c = make_case(s, {512}, 0, rows, 13);
    const std::vector<float> prefill = run_attention(*d.gpu, c, iota(300));
    expect_close("prefill", prefill, run_attention(*d.ref, c, iota(300)), kAttnTol, 0);
    for (int t : {0, 1, 200, 255, 256, 257, 299}) {
      const std::vector<float> alone = run_attention(*d.gpu, c, {t});
      expect_same("row " + std::to_string(t) + " alone", alone, row_of(prefill, s, t));
    }
  }
}

// A decode step recorded once and replayed with new positions and inputs
// (copied in from page-locked buffers) equals the same calls made directly.
TEST(CudaOps, GraphReplayEqualsDirectCalls) {
  REQUIRE_GPU();
  Devices d;
  Device& g = *d.gpu;
  const QkvShape s{8, 2, 64, 12 * 64};
  const std::vector<int> n_ctx = {1024, 600};
  const int64_t n = 2;
  Rng rng(21);
  const std::vector<double> freq = inv_freqs(64);
  const std::vector<uint16_t> cache0 = rng.halves(cache_halves(s, n_ctx[0]));
  const std::vector<uint16_t> cache1 = rng.halves(cache_halves(s, n_ctx[1]));
  const KvLayer layer{s.n_head_kv};
  AttentionParams p;
  p.scale = 0.125f;
  p.n_ctx_max = 1024;

  // Two copies of everything: one driven by the graph, one directly.
  struct Side {
    std::vector<void*> caches;
    float* qkv;
    RowMeta* meta;
    float* out;
    void* scratch;
  };
  Arena a(g);
  const double* gfreq = a.put(freq);
  const RopeParams rope{64, gfreq};
  auto make_side = [&]() {
    Side sd;
    sd.caches = {a.put(cache0), a.put(cache1)};
    sd.qkv = static_cast<float*>(a.alloc(n * s.row_stride * 4));
    sd.meta = static_cast<RowMeta*>(a.alloc(n * sizeof(RowMeta)));
    sd.out = static_cast<float*>(a.alloc(n * s.q_dim() * 4));
    sd.scratch = a.alloc(g.attention_scratch_bytes(s, n, p.n_ctx_max));
    return sd;
  };
  Side graph_side = make_side(), direct_side = make_side();
  auto* host_qkv = static_cast<float*>(g.alloc_host(n * s.row_stride * 4));
  auto* host_meta = static_cast<RowMeta*>(g.alloc_host(n * sizeof(RowMeta)));

  auto step = [&](const Side& sd) {
    g.upload_async(sd.qkv, host_qkv, n * s.row_stride * 4);
    g.upload_async(sd.meta, host_meta, n * sizeof(RowMeta));
    g.rope_store(sd.qkv, s, sd.meta, n, rope, layer);
    g.attention(sd.qkv, s, sd.meta, n, layer, p, sd.out, sd.scratch);
  };
  std::unique_ptr<DeviceGraph> recording = g.capture([&] { step(graph_side); });
  ASSERT_NE(recording, nullptr) << "the CUDA device could not record a decode step";

  const int start[2] = {250, 10};
  for (int it = 0; it < 4; ++it) {
    SCOPED_TRACE("step " + std::to_string(it));
    const std::vector<float> x = rng.floats(static_cast<size_t>(n * s.row_stride), 3.0f);
    std::copy(x.begin(), x.end(), host_qkv);
    const std::vector<RowMeta> m = metas(Rows{{0, 1}, {start[0] + 3 * it, start[1] + it}}, n_ctx, graph_side.caches);
    std::copy(m.begin(), m.end(), host_meta);
    g.replay(*recording);
    g.synchronize();
    const std::vector<float> graph_out = a.get<float>(graph_side.out, n * s.q_dim());

    const std::vector<RowMeta> md = metas(Rows{{0, 1}, {start[0] + 3 * it, start[1] + it}}, n_ctx, direct_side.caches);
    std::copy(md.begin(), md.end(), host_meta);
    step(direct_side);
    g.synchronize();
    expect_same("output", graph_out, a.get<float>(direct_side.out, n * s.q_dim()));
  }
  for (size_t c = 0; c < 2; ++c)
    expect_same("cache " + std::to_string(c), a.get<uint16_t>(graph_side.caches[c], cache_halves(s, n_ctx[c])),
                a.get<uint16_t>(direct_side.caches[c], cache_halves(s, n_ctx[c])));
  recording.reset();
  g.free_host(host_qkv);
  g.free_host(host_meta);
}

// A body that cannot be recorded (a synchronous copy) gives no recording,
// and the device keeps working.
TEST(CudaOps, CaptureOfASynchronousCopyGivesNoRecording) {
  REQUIRE_GPU();
  Devices d;
  Arena a(*d.gpu);
  const std::vector<float> x = {1, 2, 3, 4};
  float* p = a.put(x);
  std::vector<float> back(4);
  EXPECT_EQ(d.gpu->capture([&] { d.gpu->download(back.data(), p, 16); }), nullptr);
  EXPECT_EQ(a.get<float>(p, 4), x);
}

}  // namespace
}  // namespace lineage

#endif  // LINEAGE_HAVE_CUDA
