#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "sampling/sampler.h"

using namespace lineage;

namespace {
// Logits whose softmax is exactly the given probabilities.
std::vector<float> logits_for(const std::vector<double>& p) {
  std::vector<float> l;
  for (double q : p) l.push_back(static_cast<float>(std::log(q)));
  return l;
}

std::map<int, int> histogram(SamplerParams p, const std::vector<double>& probs, int draws) {
  Sampler s(p);
  std::map<int, int> h;
  for (int k = 0; k < draws; ++k) {
    auto l = logits_for(probs);
    ++h[s.sample(l.data(), static_cast<int>(l.size()), {})];
  }
  return h;
}
}  // namespace

TEST(Sampling, GreedyIsArgmaxWithLowestIdOnTies) {
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(argmax(l.data(), 4), 1);
  SamplerParams p;
  p.temperature = 0;
  Sampler s(p);
  EXPECT_EQ(s.sample(l.data(), 4, {}), 1);
}

TEST(Sampling, SameSeedSameTokens) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 7;
  std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  Sampler a(p), b(p);
  p.seed = 8;
  Sampler c(p);
  int same_as_other_seed = 0;
  for (int k = 0; k < 200; ++k) {
    auto l1 = logits_for(probs), l2 = l1, l3 = l1;
    int ta = a.sample(l1.data(), 4, {});
    EXPECT_EQ(ta, b.sample(l2.data(), 4, {}));
    same_as_other_seed += ta == c.sample(l3.data(), 4, {});
  }
  EXPECT_LT(same_as_other_seed, 150);  // another seed gives another sequence
}

TEST(Sampling, FrequenciesFollowTheDistribution) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 1;
  auto h = histogram(p, {0.5, 0.3, 0.2}, 20000);
  EXPECT_NEAR(h[0] / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(h[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(h[2] / 20000.0, 0.2, 0.02);
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingP) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.min_p = 0;
  p.top_p = 0.7f;  // 0.5 + 0.3 reaches it: id 2 never drawn
  p.seed = 3;
  auto h = histogram(p, {0.5, 0.3, 0.2}, 4000);
  EXPECT_EQ(h.count(2), 0u);
  EXPECT_NEAR(h[0] / 4000.0, 0.625, 0.03);  // renormalized 0.5 / 0.8
}

TEST(Sampling, MinPAndTopK) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.5f;  // keeps p >= 0.25: ids 0 and 1
  p.seed = 4;
  auto h = histogram(p, {0.5, 0.3, 0.2}, 2000);
  EXPECT_EQ(h.count(2), 0u);
  EXPECT_GT(h[1], 0);
  p.min_p = 0;
  p.top_k = 1;
  h = histogram(p, {0.2, 0.5, 0.3}, 500);
  EXPECT_EQ(h[1], 500);
}

TEST(Sampling, LowTemperatureSharpens) {
  SamplerParams p;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 5;
  p.temperature = 0.25f;  // probabilities ~ p^4: 0.0625 : 0.0081 -> 0.885 for id 0
  auto h = histogram(p, {0.5, 0.3}, 4000);
  EXPECT_NEAR(h[0] / 4000.0, 0.0625 / (0.0625 + 0.0081), 0.02);
}

TEST(Sampling, NanLogitsAreNeverChosen) {
  std::vector<float> l = {NAN, 1.0f, NAN, 0.5f};
  SamplerParams p;
  p.temperature = 0;
  EXPECT_EQ(Sampler(p).sample(l.data(), 4, {}), 1);
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  Sampler s(p);
  for (int k = 0; k < 200; ++k) {
    std::vector<float> m = {NAN, 1.0f, NAN, 0.5f};
    int id = s.sample(m.data(), 4, {});
    EXPECT_TRUE(id == 1 || id == 3) << id;
  }
}

TEST(Sampling, Penalties) {
  SamplerParams p;
  p.repeat_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 1.0f;
  p.repeat_last_n = 4;
  std::vector<float> l = {4.0f, -1.0f, 3.0f, 1.0f};
  // Token 0 three times and 1 once in the window; token 2 only before it.
  apply_penalties(l.data(), 4, {2, 0, 0, 1, 0}, p);
  EXPECT_FLOAT_EQ(l[0], 4.0f / 2 - 3 * 0.5f - 1.0f);
  EXPECT_FLOAT_EQ(l[1], -1.0f * 2 - 0.5f - 1.0f);
  EXPECT_FLOAT_EQ(l[2], 3.0f);
  EXPECT_FLOAT_EQ(l[3], 1.0f);
}
