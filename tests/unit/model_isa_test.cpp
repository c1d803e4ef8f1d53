// The whole forward pass on every instruction set this CPU has: logits of a
// token computed in a batch equal, bit for bit, those computed one token at
// a time (and for 1 or 3 threads), and every path still agrees with the
// golden logits of the independent engine (cosine >= 0.999 per position,
// the DESIGN.md tolerance for quantized types).
#include <gtest/gtest.h>

#include <cstring>

#include "kernels_test_util.h"
#include "model_test_util.h"

namespace lineage::model_test {
namespace {

double min_cosine(const std::vector<float>& got, const Golden& g, int nv) {
  double worst = 1;
  for (size_t p = 0; p < g.logits.size(); ++p) {
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < nv; ++i) {
      const double a = got[p * nv + i], b = g.logits[p][i];
      dot += a * b;
      na += a * a;
      nb += b * b;
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

class ModelIsa : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelIsa, BatchEqualsStepwiseBitwiseOnEveryIsa) {
  const std::string name = GetParam();
  auto model = load_model(shared_path("golden/llamacpp/" + name + ".gguf"));
  Golden g = read_golden(shared_path("golden/llamacpp/" + name + ".logits.jsonl"));
  const int nv = model->config().n_vocab;
  ThreadPool one(1), two(2), three(3);
  test::for_each_isa([&](Isa) {
    const std::vector<float> batched = logits_batched(*model, g.tokens, two);
    const std::vector<float> stepwise = logits_stepwise(*model, g.tokens, two);
    ASSERT_EQ(batched.size(), stepwise.size());
    EXPECT_EQ(std::memcmp(batched.data(), stepwise.data(), batched.size() * sizeof(float)), 0)
        << "a token's logits changed with the batch it was in";
    EXPECT_EQ(batched, logits_batched(*model, g.tokens, one));
    EXPECT_EQ(batched, logits_batched(*model, g.tokens, three));
    EXPECT_GE(min_cosine(batched, g, nv), 0.999);
  });
}

INSTANTIATE_TEST_SUITE_P(Model, ModelIsa,
                         ::testing::Values("tiny-11-F32", "tiny-11-F16", "tiny-11-Q8_0", "tiny-11-Q4_0",
                                           "tiny-11-Q4_K_M", "tiny-11-Q6_K"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace lineage::model_test
