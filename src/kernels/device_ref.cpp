// The reference device: every Device operation in plain scalar C++ on host
// memory. It states what the GPU kernels compute (the CUDA tests compare
// against it) and runs the model's device path on machines without a GPU.
// Accumulations are in double, so it is the more exact of the two.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/act_layout.h"
#include "kernels/device.h"
#include "kernels/type_traits.h"
#include "tensor/fp16.h"

namespace lineage {

namespace {

using cuda::q8_bytes;
using cuda::q8_planes;
using cuda::Q8Planes;

// Activation row t as the floats a product multiplies: the rounded values
// themselves (d * q for Q8).
void act_row(ActFormat f, const void* act, int64_t n, int64_t cols, int64_t t, float* out) {
  switch (f) {
    case ActFormat::F32: std::memcpy(out, static_cast<const float*>(act) + t * cols, cols * sizeof(float)); return;
    case ActFormat::F16: {
      const uint16_t* h = static_cast<const uint16_t*>(act) + t * cols;
      for (int64_t i = 0; i < cols; ++i) out[i] = fp16_to_f32(h[i]);
      return;
    }
    case ActFormat::BF16: {
      const uint16_t* h = static_cast<const uint16_t*>(act) + t * cols;
      for (int64_t i = 0; i < cols; ++i) out[i] = bf16_to_f32(h[i]);
      return;
    }
    case ActFormat::Q8: {
      const Q8Planes p = q8_planes(const_cast<void*>(act), n, cols);
      const int64_t nb = cols / 32;
      for (int64_t i = 0; i < cols; ++i) out[i] = p.d[t * nb + i / 32] * static_cast<float>(p.q[t * cols + i]);
      return;
    }
  }
}

void write_act(ActFormat f, const float* x, int64_t n, int64_t cols, int64_t t, void* out) {
  switch (f) {
    case ActFormat::F32: std::memcpy(static_cast<float*>(out) + t * cols, x, cols * sizeof(float)); return;
    case ActFormat::F16: {
      uint16_t* h = static_cast<uint16_t*>(out) + t * cols;
      for (int64_t i = 0; i < cols; ++i) h[i] = f32_to_fp16(x[i]);
      return;
    }
    case ActFormat::BF16: {
      uint16_t* h = static_cast<uint16_t*>(out) + t * cols;
      for (int64_t i = 0; i < cols; ++i) h[i] = f32_to_bf16(x[i]);
      return;
    }
    case ActFormat::Q8: {
      if (cols % 32 != 0) fail("reference device: Q8 activations need a multiple of 32 values, got ", cols);
      const Q8Planes p = q8_planes(out, n, cols);
      const int64_t nb = cols / 32;
      for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + b * 32;
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        int32_t sum = 0;
        for (int i = 0; i < 32; ++i) {
          const int8_t q = d == 0 ? 0 : static_cast<int8_t>(std::nearbyint(xb[i] / d));
          p.q[t * cols + b * 32 + i] = q;
          sum += q;
        }
        p.d[t * nb + b] = d;
        p.s[t * nb + b] = sum;
      }
      return;
    }
  }
}

class RefGraph final : public DeviceGraph {};

class RefDevice final : public Device {
 public:
  std::string name() const override { return "reference"; }

  void memory(size_t& free_bytes, size_t& total_bytes) const override {
    const double page = static_cast<double>(sysconf(_SC_PAGE_SIZE));
    total_bytes = static_cast<size_t>(static_cast<double>(sysconf(_SC_PHYS_PAGES)) * page);
    free_bytes = static_cast<size_t>(static_cast<double>(sysconf(_SC_AVPHYS_PAGES)) * page);
  }

  bool supports(DType t) const override {
    switch (t) {
      case DType::F32:
      case DType::F16:
      case DType::BF16:
      case DType::Q8_0:
      case DType::Q4_0:
      case DType::Q4_K:
      case DType::Q6_K: return true;
      default: return false;
    }
  }

  void* alloc(size_t bytes) override {
    void* p = std::aligned_alloc(256, std::max<size_t>(256, cuda::align256(bytes)));
    if (!p) fail("reference device: cannot allocate ", bytes, " bytes");
    return p;
  }
  void free(void* p) override { std::free(p); }
  void* alloc_host(size_t bytes) override { return alloc(bytes); }
  void free_host(void* p) override { std::free(p); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void upload_async(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download_async(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void fill_zero(void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }
  void synchronize() override {}

  std::unique_ptr<DeviceGraph> capture(const std::function<void()>&) override { return nullptr; }
  void replay(const DeviceGraph&) override { fail("reference device: nothing was recorded"); }

  DevMatrix upload_matrix(DType type, int64_t cols, std::span<const MatrixPart> parts, int n_stack) override {
    if (!supports(type)) fail("reference device: no kernels for type ", dtype_name(type));
    DevMatrix m;
    m.type = type;
    m.cols = cols;
    m.n_stack = n_stack;
    const size_t rb = dtype_row_bytes(type, cols);
    int64_t rows = 0;
    for (const MatrixPart& p : parts) rows += p.rows;
    if (n_stack < 1 || rows % n_stack != 0) fail("reference device: ", rows, " rows do not split into ", n_stack, " matrices");
    m.rows = rows / n_stack;
    m.bytes = rb * static_cast<size_t>(rows);
    m.data = alloc(m.bytes);
    uint8_t* at = static_cast<uint8_t*>(m.data);
    for (const MatrixPart& p : parts) {
      std::memcpy(at, p.data, rb * static_cast<size_t>(p.rows));
      at += rb * static_cast<size_t>(p.rows);
    }
    return m;
  }

  void free_matrix(DevMatrix& m) override {
    free(m.data);
    m = DevMatrix{};
  }

  void convert(const float* x, int64_t n, int64_t cols, ActFormat f, void* out) override {
    for (int64_t t = 0; t < n; ++t) write_act(f, x + t * cols, n, cols, t, out);
  }

  // The CPU's rmsnorm (nn/rmsnorm.cpp), then the format.
  void rmsnorm(const float* x, const float* w, int64_t n, int64_t cols, float eps, ActFormat f, void* out) override {
    std::vector<float> y(cols);
    for (int64_t t = 0; t < n; ++t) {
      const float* xr = x + t * cols;
      double ss = 0;
      for (int64_t i = 0; i < cols; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(cols) + eps));
      for (int64_t i = 0; i < cols; ++i) y[i] = xr[i] * scale * w[i];
      write_act(f, y.data(), n, cols, t, out);
    }
  }

  void swiglu(const float* gate_up, int64_t n, int64_t ff, ActFormat f, void* out) override {
    std::vector<float> y(ff);
    for (int64_t t = 0; t < n; ++t) {
      const float* g = gate_up + t * 2 * ff;
      const float* u = g + ff;
      for (int64_t i = 0; i < ff; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
      write_act(f, y.data(), n, ff, t, out);
    }
  }

  void embed(const DevMatrix& table, const int32_t* tokens, int64_t n, float* x) override {
    const TypeTraits* tr = type_traits_ref(table.type);
    const size_t rb = dtype_row_bytes(table.type, table.cols);
    for (int64_t t = 0; t < n; ++t)
      tr->to_float(static_cast<const uint8_t*>(table.data) + rb * static_cast<size_t>(tokens[t]), x + t * table.cols,
                   table.cols);
  }

  void matmul(const DevMatrix& w, const void* act, int64_t n, float* y, bool accumulate, int64_t ldy) override {
    if (ldy == 0) ldy = w.rows;
    if (ldy < w.rows) fail("reference device: output stride ", ldy, " is less than ", w.rows, " rows");
    // Every activation row as floats once, then each weight row once for all
    // of them.
    std::vector<float> xs(static_cast<size_t>(n * w.cols)), wr(w.cols);
    for (int64_t t = 0; t < n; ++t) act_row(act_format(w.type), act, n, w.cols, t, xs.data() + t * w.cols);
    for (int64_t r = 0; r < w.rows; ++r) {
      weight_row(w, 0, r, wr.data());
      for (int64_t t = 0; t < n; ++t) store(dot(wr.data(), xs.data() + t * w.cols, w.cols), y + t * ldy + r, accumulate);
    }
  }

  void matmul_experts(const DevMatrix& w, const void* act, bool act_per_pair, const int32_t* ids, int64_t n, int k,
                      float* y) override {
    std::vector<float> xr(w.cols), wr(w.cols);
    const int64_t n_act = act_per_pair ? n * k : n;
    for (int64_t p = 0; p < n * k; ++p) {
      if (ids[p] < 0 || ids[p] >= w.n_stack) fail("reference device: expert id ", ids[p], " out of range");
      act_row(act_format(w.type), act, n_act, w.cols, act_per_pair ? p : p / k, xr.data());
      for (int64_t r = 0; r < w.rows; ++r) {
        weight_row(w, ids[p], r, wr.data());
        store(dot(wr.data(), xr.data(), w.cols), y + p * w.rows + r, false);
      }
    }
  }

  // nn/moe.cpp's softmax and selection.
  void moe_route(const float* logits, int64_t n, int n_expert, int k, int32_t* ids, float* weights) override {
    std::vector<float> p(n_expert);
    for (int64_t t = 0; t < n; ++t) {
      const float* l = logits + t * n_expert;
      const float mx = *std::max_element(l, l + n_expert);
      float sum = 0;
      for (int e = 0; e < n_expert; ++e) sum += (p[e] = std::exp(l[e] - mx));
      for (int e = 0; e < n_expert; ++e) p[e] /= sum;
      float wsum = 0;
      for (int j = 0; j < k; ++j) {
        int best = -1;
        for (int e = 0; e < n_expert; ++e) {
          if (std::find(ids + t * k, ids + t * k + j, e) != ids + t * k + j) continue;
          if (best < 0 || p[e] > p[best]) best = e;
        }
        ids[t * k + j] = best;
        wsum += (weights[t * k + j] = p[best]);
      }
      for (int j = 0; j < k; ++j) weights[t * k + j] /= wsum;
    }
  }

  void moe_combine(const float* y, const float* weights, int64_t n, int k, int64_t cols, float* x) override {
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < cols; ++i) {
        float acc = x[t * cols + i];
        for (int j = 0; j < k; ++j) acc += weights[t * k + j] * y[(t * k + j) * cols + i];
        x[t * cols + i] = acc;
      }
  }

  void rope_store(float* qkv, const QkvShape& s, const RowMeta* meta, int64_t n, const RopeParams& rope,
                  const KvLayer& l) override {
    const int half = rope.rope_dim / 2;
    std::vector<float> c(half), sn(half);
    for (int64_t t = 0; t < n; ++t) {
      const RowMeta& m = meta[t];
      check_row(m, t);
      for (int i = 0; i < half; ++i) {
        const double a = static_cast<double>(m.pos) * rope.inv_freq[i];
        c[i] = static_cast<float>(std::cos(a));
        sn[i] = static_cast<float>(std::sin(a));
      }
      float* row = qkv + t * s.row_stride;
      for (int h = 0; h < s.n_head + s.n_head_kv; ++h) {
        float* v = row + static_cast<int64_t>(h) * s.head_dim;
        for (int i = 0; i < half; ++i) {
          const float x0 = v[2 * i], x1 = v[2 * i + 1];
          v[2 * i] = x0 * c[i] - x1 * sn[i];
          v[2 * i + 1] = x0 * sn[i] + x1 * c[i];
        }
      }
      uint16_t* kc = layer_k(m, s, l);
      uint16_t* vc = kc + static_cast<int64_t>(s.n_head_kv) * m.n_ctx * s.head_dim;
      for (int h = 0; h < s.n_head_kv; ++h)
        for (int d = 0; d < s.head_dim; ++d) {
          const int64_t at = (static_cast<int64_t>(h) * m.n_ctx + m.pos) * s.head_dim + d;
          kc[at] = f32_to_fp16(row[s.q_dim() + h * s.head_dim + d]);
          vc[at] = f32_to_fp16(row[s.q_dim() + s.kv_dim() + h * s.head_dim + d]);
        }
    }
  }

  void attention(const float* qkv, const QkvShape& s, const RowMeta* meta, int64_t n, const KvLayer& l,
                 const AttentionParams& p, float* out, void*) override {
    const int group = s.n_head / s.n_head_kv;
    for (int64_t t = 0; t < n; ++t) {
      const RowMeta& m = meta[t];
      check_row(m, t);
      const uint16_t* kc = layer_k(m, s, l);
      const uint16_t* vc = kc + static_cast<int64_t>(s.n_head_kv) * m.n_ctx * s.head_dim;
      const int lo = p.sliding_window > 0 ? std::max(0, m.pos - p.sliding_window + 1) : 0;
      std::vector<double> sc(m.pos + 1 - lo), acc(s.head_dim);
      for (int h = 0; h < s.n_head; ++h) {
        const float* q = qkv + t * s.row_stride + static_cast<int64_t>(h) * s.head_dim;
        const int64_t kh = h / group;
        double mx = -INFINITY;
        for (int j = lo; j <= m.pos; ++j) {
          const uint16_t* kr = kc + (kh * m.n_ctx + j) * s.head_dim;
          double d = 0;
          for (int i = 0; i < s.head_dim; ++i) d += static_cast<double>(q[i]) * fp16_to_f32(kr[i]);
          sc[j - lo] = d * p.scale;
          mx = std::max(mx, sc[j - lo]);
        }
        double sum = 0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int j = lo; j <= m.pos; ++j) {
          const double e = std::exp(sc[j - lo] - mx);
          sum += e;
          const uint16_t* vr = vc + (kh * m.n_ctx + j) * s.head_dim;
          for (int i = 0; i < s.head_dim; ++i) acc[i] += e * fp16_to_f32(vr[i]);
        }
        float* o = out + t * s.q_dim() + static_cast<int64_t>(h) * s.head_dim;
        for (int i = 0; i < s.head_dim; ++i) o[i] = static_cast<float>(acc[i] / sum);
      }
    }
  }

  size_t attention_scratch_bytes(const QkvShape&, int64_t, int) const override { return 0; }

 private:
  static void check_row(const RowMeta& m, int64_t t) {
    if (m.pos < 0 || m.pos >= m.n_ctx || m.kv == 0) fail("reference device: row ", t, " has position ", m.pos, " in a context of ", m.n_ctx);
  }

  static uint16_t* layer_k(const RowMeta& m, const QkvShape& s, const KvLayer& l) {
    return reinterpret_cast<uint16_t*>(static_cast<uintptr_t>(m.kv)) + 2 * static_cast<int64_t>(s.head_dim) * m.n_ctx * l.kv_heads_before;
  }

  // Row r of stacked matrix e as floats.
  static void weight_row(const DevMatrix& w, int e, int64_t r, float* out) {
    const size_t rb = dtype_row_bytes(w.type, w.cols);
    type_traits_ref(w.type)->to_float(
        static_cast<const uint8_t*>(w.data) + rb * static_cast<size_t>(static_cast<int64_t>(e) * w.rows + r), out, w.cols);
  }

  // In double, over the weights' and activations' exact float values.
  static double dot(const float* a, const float* b, int64_t n) {
    double d = 0;
    for (int64_t i = 0; i < n; ++i) d += static_cast<double>(a[i]) * b[i];
    return d;
  }

  static void store(double d, float* y, bool accumulate) {
    *y = accumulate ? *y + static_cast<float>(d) : static_cast<float>(d);
  }
};

}  // namespace

std::shared_ptr<Device> make_ref_device() { return std::make_shared<RefDevice>(); }

}  // namespace lineage
