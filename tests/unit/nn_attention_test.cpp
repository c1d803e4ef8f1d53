// Attention against a direct double-precision evaluation of its definition
// (softmax(q.k / sqrt(d)) . v over the visible positions), on every
// instruction set: grouped heads (group sizes 1, 4 and 12, which splits into
// two kernel calls), head sizes that are and are not multiples of 16, a
// sliding window, and a batch that starts after cached positions. A row's
// result must not depend on the batch it is computed in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels_test_util.h"
#include "nn/attention.h"

namespace lineage {
namespace {

using test::for_each_isa;
using test::random_floats;

std::vector<double> direct(const AttentionShape& s, const std::vector<float>& q, const std::vector<float>& k,
                           const std::vector<float>& v, int64_t n_ctx, int64_t pos0, int64_t n) {
  const int64_t d = s.head_dim, group = s.n_head / s.n_head_kv;
  std::vector<double> out(static_cast<size_t>(n * s.n_head * d));
  for (int64_t t = 0; t < n; ++t)
    for (int h = 0; h < s.n_head; ++h) {
      const int64_t g = h / group, i = pos0 + t;
      const int64_t first = s.sliding_window > 0 ? std::max<int64_t>(0, i - s.sliding_window + 1) : 0;
      std::vector<double> w;
      double mx = -1e300, sum = 0;
      for (int64_t j = first; j <= i; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < d; ++e) dot += double(q[(t * s.n_head + h) * d + e]) * k[(g * n_ctx + j) * d + e];
        w.push_back(dot / std::sqrt(double(d)));
        mx = std::max(mx, w.back());
      }
      for (double& x : w) sum += (x = std::exp(x - mx));
      for (int64_t e = 0; e < d; ++e) {
        double acc = 0;
        for (int64_t j = first; j <= i; ++j) acc += w[j - first] / sum * v[(g * n_ctx + j) * d + e];
        out[(t * s.n_head + h) * d + e] = acc;
      }
    }
  return out;
}

TEST(NnAttention, MatchesDirectEvaluationOnEveryIsa) {
  struct Case {
    AttentionShape s;
    int64_t pos0, n;
  };
  const Case cases[] = {{{8, 2, 64, 0}, 0, 21},  {{12, 1, 72, 0}, 5, 9},  {{4, 4, 16, 0}, 0, 40},
                        {{8, 1, 64, 7}, 3, 30}, {{6, 3, 40, 0}, 17, 1}};
  ThreadPool pool(2);
  for (const Case& c : cases) {
    const AttentionShape& s = c.s;
    SCOPED_TRACE(testing::Message() << s.n_head << "/" << s.n_head_kv << " heads of " << s.head_dim << ", window "
                                    << s.sliding_window << ", pos0 " << c.pos0 << ", n " << c.n);
    const int64_t n_ctx = c.pos0 + c.n + 3, d = s.head_dim;
    const auto q = random_floats(c.n * s.n_head * d, 1);
    const auto k = random_floats(s.n_head_kv * n_ctx * d, 2);
    const auto v = random_floats(k.size(), 3);
    const auto want = direct(s, q, k, v, n_ctx, c.pos0, c.n);
    for_each_isa([&](Isa) {
      std::vector<float> out(q.size()), one(s.n_head * d), scores(2 * n_ctx);
      attention(s, q.data(), k.data(), v.data(), n_ctx, c.pos0, c.n, out.data(), scores.data(), pool);
      for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << i;
      // The last token alone, with the others already in the cache.
      const int64_t t = c.n - 1;
      attention(s, q.data() + t * s.n_head * d, k.data(), v.data(), n_ctx, c.pos0 + t, 1, one.data(), scores.data(),
                pool);
      EXPECT_EQ(std::memcmp(one.data(), out.data() + t * s.n_head * d, one.size() * sizeof(float)), 0);
    });
  }
}

}  // namespace
}  // namespace lineage
