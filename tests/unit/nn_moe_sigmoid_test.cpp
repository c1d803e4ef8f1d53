// The Llama 4 expert block against a direct per-token computation written
// from the definition: out = shared(x) + sum over the top-k raw router
// logits of expert_e(sigmoid(logit_e) * x).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "nn/moe_sigmoid.h"

namespace lineage {
namespace {

struct Mat {
  std::vector<float> v;
  int rows, cols;
  Matrix view() const { return Matrix{v.data(), DType::F32, rows, cols}; }
};

Mat random_mat(int rows, int cols, std::mt19937& rng, float scale = 0.3f) {
  std::normal_distribution<float> d(0.0f, scale);
  Mat m{std::vector<float>(static_cast<size_t>(rows) * cols), rows, cols};
  for (float& x : m.v) x = d(rng);
  return m;
}

// y = W x for one vector
std::vector<float> matvec(const Mat& w, const std::vector<float>& x) {
  std::vector<float> y(w.rows);
  for (int r = 0; r < w.rows; ++r) {
    double acc = 0;
    for (int c = 0; c < w.cols; ++c) acc += static_cast<double>(w.v[r * w.cols + c]) * x[c];
    y[r] = static_cast<float>(acc);
  }
  return y;
}

struct Ffn {
  Mat gate, up, down;
  FfnWeights view() const { return FfnWeights{gate.view(), up.view(), down.view()}; }
  std::vector<float> operator()(const std::vector<float>& x) const {
    std::vector<float> g = matvec(gate, x), u = matvec(up, x);
    for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
    return matvec(down, g);
  }
};

Ffn random_ffn(int ff, int embd, std::mt19937& rng) {
  return Ffn{random_mat(ff, embd, rng), random_mat(ff, embd, rng), random_mat(embd, ff, rng)};
}

TEST(MoeSigmoid, SelectsByRawLogitAndWeighsBySigmoid) {
  const float logits[] = {0.5f, -2.0f, 3.0f, 0.5f, 1.0f};
  int idx[3];
  float w[3];
  moe_select_sigmoid(logits, 5, 3, idx, w);
  EXPECT_EQ(idx[0], 2);
  EXPECT_EQ(idx[1], 4);
  EXPECT_EQ(idx[2], 0);  // ties go to the lower index
  EXPECT_FLOAT_EQ(w[0], 1.0f / (1.0f + std::exp(-3.0f)));
  EXPECT_FLOAT_EQ(w[1], 1.0f / (1.0f + std::exp(-1.0f)));
  EXPECT_FLOAT_EQ(w[2], 1.0f / (1.0f + std::exp(-0.5f)));  // no renormalization
}

TEST(MoeSigmoid, MatchesTheDefinitionForEveryBatchSizeAndTopK) {
  const int embd = 32, ff = 48, n_expert = 6;
  std::mt19937 rng(7);
  std::vector<Ffn> experts;
  for (int e = 0; e < n_expert; ++e) experts.push_back(random_ffn(ff, embd, rng));
  const Ffn shared = random_ffn(ff, embd, rng);
  const Mat router = random_mat(n_expert, embd, rng, 1.0f);
  ThreadPool pool(2);
  for (int k : {1, 2}) {
    MoeWeights w;
    w.router = router.view();
    w.n_expert_used = k;
    for (const Ffn& e : experts) w.experts.push_back(e.view());
    for (int n : {1, 5, 17}) {
      const Mat x = random_mat(n, embd, rng, 1.0f);
      std::vector<float> out(static_cast<size_t>(n) * embd);
      moe_sigmoid_ffn(w, shared.view(), x.v.data(), n, embd, out.data(), pool);
      for (int t = 0; t < n; ++t) {
        std::vector<float> xt(x.v.begin() + t * embd, x.v.begin() + (t + 1) * embd);
        std::vector<float> want = shared(xt);
        std::vector<float> logit = matvec(router, xt);
        std::vector<bool> taken(n_expert, false);
        for (int s = 0; s < k; ++s) {
          int best = -1;
          for (int e = 0; e < n_expert; ++e)
            if (!taken[e] && (best < 0 || logit[e] > logit[best])) best = e;
          taken[best] = true;
          std::vector<float> scaled = xt;
          for (float& v : scaled) v *= 1.0f / (1.0f + std::exp(-logit[best]));
          std::vector<float> y = experts[best](scaled);
          for (int i = 0; i < embd; ++i) want[i] += y[i];
        }
        for (int i = 0; i < embd; ++i)
          EXPECT_NEAR(out[t * embd + i], want[i], 1e-4f * (1 + std::fabs(want[i]))) << "k " << k << " n " << n;
      }
    }
  }
}

TEST(MoeSigmoid, ReadsOnlyTheChosenExperts) {
  // The router can only ever pick expert 1 (its row is the only one that
  // is not strongly negative for positive inputs); the other experts have no
  // weights at all, so reading any of them would fault.
  const int embd = 16, ff = 24, n_expert = 4;
  std::mt19937 rng(3);
  Mat router{std::vector<float>(static_cast<size_t>(n_expert) * embd, -1.0f), n_expert, embd};
  for (int c = 0; c < embd; ++c) router.v[1 * embd + c] = 1.0f;
  const Ffn chosen = random_ffn(ff, embd, rng), shared = random_ffn(ff, embd, rng);
  MoeWeights w;
  w.router = router.view();
  w.n_expert_used = 1;
  for (int e = 0; e < n_expert; ++e)
    w.experts.push_back(e == 1 ? chosen.view()
                               : FfnWeights{Matrix{nullptr, DType::F32, ff, embd}, Matrix{nullptr, DType::F32, ff, embd},
                                            Matrix{nullptr, DType::F32, embd, ff}});
  ThreadPool pool(1);
  for (int n : {1, 9}) {  // decode and prefill
    std::vector<float> x(static_cast<size_t>(n) * embd);
    std::uniform_real_distribution<float> d(0.1f, 1.0f);
    for (float& v : x) v = d(rng);
    std::vector<float> out(x.size());
    moe_sigmoid_ffn(w, shared.view(), x.data(), n, embd, out.data(), pool);
    std::vector<float> x0(x.begin(), x.begin() + embd);
    std::vector<float> want = shared(x0);
    const float s = 1.0f / (1.0f + std::exp(-static_cast<float>(matvec(router, x0)[1])));
    for (float& v : x0) v *= s;
    std::vector<float> y = chosen(x0);
    for (int i = 0; i < embd; ++i) EXPECT_NEAR(out[i], want[i] + y[i], 1e-4f * (1 + std::fabs(want[i] + y[i])));
  }
}

TEST(MoeSoftmax, ReadsOnlyTheChosenExperts) {
  // The Mixtral block (nn/moe.h) under the same trap: top-2 of 4 where the
  // router can only rank experts 0 and 3 first, for decode and prefill.
  const int embd = 16, ff = 24, n_expert = 4;
  std::mt19937 rng(5);
  Mat router{std::vector<float>(static_cast<size_t>(n_expert) * embd, -1.0f), n_expert, embd};
  for (int c = 0; c < embd; ++c) router.v[0 * embd + c] = router.v[3 * embd + c] = 1.0f;
  const Ffn e0 = random_ffn(ff, embd, rng), e3 = random_ffn(ff, embd, rng);
  const FfnWeights none{Matrix{nullptr, DType::F32, ff, embd}, Matrix{nullptr, DType::F32, ff, embd},
                        Matrix{nullptr, DType::F32, embd, ff}};
  MoeWeights w;
  w.router = router.view();
  w.n_expert_used = 2;
  w.experts = {e0.view(), none, none, e3.view()};
  ThreadPool pool(1);
  for (int n : {1, 9}) {
    std::vector<float> x(static_cast<size_t>(n) * embd);
    std::uniform_real_distribution<float> d(0.1f, 1.0f);
    for (float& v : x) v = d(rng);
    std::vector<float> out(x.size());
    moe_ffn(w, x.data(), n, embd, out.data(), pool);
    // Experts 0 and 3 tie in the router, so each gets weight 1/2.
    std::vector<float> x0(x.begin(), x.begin() + embd);
    std::vector<float> a = e0(x0), b = e3(x0);
    for (int i = 0; i < embd; ++i) EXPECT_NEAR(out[i], 0.5f * (a[i] + b[i]), 1e-4f * (1 + std::fabs(a[i] + b[i])));
  }
}

}  // namespace
}  // namespace lineage
