// Weight quantizers: their output decoded by the kernels' scalar to_float
// (an independent reading of the layouts), checked against
//  - hand-derivable limits: inside a group's grid every value lands on the
//    nearest grid point (error <= half a step); only values beyond the grid's
//    ends may be further off, and then they sit on that end;
//  - the reference quantizer: on every tensor of the golden files it
//    quantized from tiny-11-F32, our squared error is no larger than its.
//    (Only the Q8_0, Q4_0, Q4_K_M and Q6_K files come from that source; the
//    Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M and Q5_K_M files were made from another
//    model of the same shape, whose weights are not shared, so for those
//    types the check is against the textbook min/max rule instead.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "core/error.h"
#include "gguf/gguf.h"
#include "kernels/type_traits.h"
#include "quant/quantize_row.h"

namespace lineage {
namespace {

struct TypeCase {
  DType type;
  int group;  // values sharing one scale (and offset)
};

const TypeCase kSearched[] = {{DType::Q4_1, 32}, {DType::Q5_0, 32}, {DType::Q5_1, 32}, {DType::Q2_K, 16},
                              {DType::Q3_K, 16}, {DType::Q4_K, 32}, {DType::Q5_K, 32}, {DType::Q6_K, 16}};

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(dtype_row_bytes(t, static_cast<int64_t>(x.size())));
  quant::quantize_row(t, x.data(), q.data(), static_cast<int64_t>(x.size()));
  std::vector<float> y(x.size());
  type_traits_ref(t)->to_float(q.data(), y.data(), static_cast<int64_t>(x.size()));
  return y;
}

// Weight-like rows: Gaussian with a few outliers, one all-positive block,
// one constant block and one zero block.
std::vector<float> sample_row(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng);
  for (int k = 0; k < n / 64; ++k) x[rng() % n] *= 8.0f;
  for (int i = 0; i < 256 && n >= 1024; ++i) {
    x[256 + i] = std::fabs(x[256 + i]);
    x[512 + i] = 0.0f;
    x[768 + i] = 0.01f;
  }
  return x;
}

TEST(Quantize, EveryValueOnTheNearestPointOfItsGroupsGrid) {
  const std::vector<float> x = sample_row(4096, 7);
  for (const TypeCase& c : kSearched) {
    const std::vector<float> y = round_trip(c.type, x);
    for (size_t g0 = 0; g0 < x.size(); g0 += c.group) {
      // The group's grid step is at most the smallest gap between its
      // distinct decoded values; its ends are the extreme decoded values.
      std::set<float> levels(y.begin() + g0, y.begin() + g0 + c.group);
      const float lo = *levels.begin(), hi = *levels.rbegin();
      float step = INFINITY;
      for (auto it = std::next(levels.begin()); it != levels.end(); ++it) step = std::min(step, *it - *std::prev(it));
      for (size_t i = g0; i < g0 + c.group; ++i) {
        ASSERT_TRUE(std::isfinite(y[i])) << dtype_name(c.type) << " value " << i;
        const float err = std::fabs(x[i] - y[i]);
        const bool clipped = (y[i] == hi && x[i] > hi) || (y[i] == lo && x[i] < lo);
        if (levels.size() > 1 && !clipped) {
          EXPECT_LE(err, 0.5f * step * (1 + 1e-3f) + 1e-7f) << dtype_name(c.type) << " value " << i;
        }
      }
    }
  }
}

TEST(Quantize, ZeroAndConstantRowsRoundTrip) {
  for (const TypeCase& c : kSearched) {
    const std::vector<float> zero(512, 0.0f);
    for (float v : round_trip(c.type, zero)) EXPECT_EQ(v, 0.0f) << dtype_name(c.type);
    // A constant block is exactly representable by every type (as a scale
    // times one code, or as an offset); F16 storage limits it to ~1e-3.
    const std::vector<float> flat(512, 0.125f);
    for (float v : round_trip(c.type, flat)) EXPECT_NEAR(v, 0.125f, 0.125f * 2e-3f) << dtype_name(c.type);
  }
}

std::string golden(const std::string& name) { return std::string(LINEAGE_SHARED_DIR) + "/golden/llamacpp/" + name; }

double squared_error(const float* x, const std::vector<float>& y) {
  double e = 0;
  for (size_t i = 0; i < y.size(); ++i) e += (x[i] - y[i]) * static_cast<double>(x[i] - y[i]);
  return e;
}

// Our error on each tensor the reference quantizer wrote in `type`.
void expect_no_worse_than_reference(const std::string& file, DType type) {
  if (!std::filesystem::exists(golden(file))) GTEST_SKIP() << "missing " << file;
  auto f32 = GGUFFile::open(golden("tiny-11-F32.gguf"));
  auto ref = GGUFFile::open(golden(file));
  int checked = 0;
  double ours_total = 0, ref_total = 0;
  for (const GGUFTensor& t : ref->tensors()) {
    if (t.type != type) continue;
    const GGUFTensor& src = f32->tensor(t.name);
    const float* x = reinterpret_cast<const float*>(src.data);
    std::vector<float> theirs(static_cast<size_t>(t.n_elements()));
    type_traits_ref(type)->to_float(t.data, theirs.data(), t.n_elements());
    const std::vector<float> ours = round_trip(type, std::vector<float>(x, x + t.n_elements()));
    const double e_ours = squared_error(x, ours), e_ref = squared_error(x, theirs);
    EXPECT_LE(e_ours, e_ref) << file << " " << t.name;
    ours_total += e_ours;
    ref_total += e_ref;
    ++checked;
  }
  EXPECT_GT(checked, 0);
  std::printf("%s %s: squared error %.4g vs the reference quantizer's %.4g (%.1f%% less)\n", file.c_str(),
              dtype_name(type), ours_total, ref_total, 100 * (1 - ours_total / ref_total));
}

TEST(QuantizeGolden, Q4_KNoWorseThanReference) { expect_no_worse_than_reference("tiny-11-Q4_K_M.gguf", DType::Q4_K); }
TEST(QuantizeGolden, Q6_KNoWorseThanReference) { expect_no_worse_than_reference("tiny-11-Q6_K.gguf", DType::Q6_K); }
TEST(QuantizeGolden, Q6_KOutputNoWorseThanReference) {
  expect_no_worse_than_reference("tiny-11-Q4_0.gguf", DType::Q6_K);
}

// The textbook rule for a 32-value block: the grid spans [min, max] (offset
// types) or has its end on the largest magnitude (Q5_0), values rounded.
std::vector<float> min_max_rule(const std::vector<float>& x, int qmax, bool offset) {
  std::vector<float> y(x.size());
  for (size_t b = 0; b < x.size(); b += 32) {
    float lo = x[b], hi = x[b], amax = 0, vmax = 0;
    for (size_t i = b; i < b + 32; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
      if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), vmax = x[i];
    }
    const float d = offset ? (hi - lo) / qmax : vmax / -16.0f;
    const float m = offset ? lo : 0.0f;
    for (size_t i = b; i < b + 32; ++i) {
      float q = d != 0 ? std::nearbyint((x[i] - m) / d) : 0;
      q = offset ? std::clamp(q, 0.0f, static_cast<float>(qmax)) : std::clamp(q, -16.0f, 15.0f);
      y[i] = q * d + m;
    }
  }
  return y;
}

TEST(QuantizeGolden, ThirtyTwoValueTypesNoWorseThanMinMaxRule) {
  auto f32 = GGUFFile::open(golden("tiny-11-F32.gguf"));
  for (const GGUFTensor& t : f32->tensors()) {
    if (t.dims.size() < 2) continue;
    const float* p = reinterpret_cast<const float*>(t.data);
    const std::vector<float> x(p, p + t.n_elements());
    EXPECT_LE(squared_error(p, round_trip(DType::Q4_1, x)), squared_error(p, min_max_rule(x, 15, true))) << t.name;
    EXPECT_LE(squared_error(p, round_trip(DType::Q5_1, x)), squared_error(p, min_max_rule(x, 31, true))) << t.name;
    EXPECT_LE(squared_error(p, round_trip(DType::Q5_0, x)), squared_error(p, min_max_rule(x, 0, false))) << t.name;
  }
}

TEST(Quantize, RefusesTypesItCannotWriteAndPartialBlocks) {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> out(1024);
  EXPECT_FALSE(quant::can_quantize(DType::IQ2_XXS));
  EXPECT_THROW(quant::quantize_row(DType::IQ2_XXS, x.data(), out.data(), 256), Error);
  EXPECT_THROW(quant::quantize_row(DType::Q4_K, x.data(), out.data(), 96), Error);
}

}  // namespace
}  // namespace lineage
