// Logits of the golden files against those an independent engine computed,
// batched and token by token, with the tolerances of DESIGN.md.
#include <gtest/gtest.h>

#include "model_test_util.h"

namespace lineage::model_test {
namespace {

struct GoldenCase {
  std::string name;
  bool exact;  // F32 weights: every logit within 1e-3 of the largest
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

std::string golden_path(const std::string& name, const char* ext) {
  return shared_path("golden/llamacpp/" + name + ext);
}

class ModelGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(ModelGolden, MatchesReferenceLogits) {
  const GoldenCase& gc = GetParam();
  auto model = load_model(golden_path(gc.name, ".gguf"));
  Golden g = read_golden(golden_path(gc.name, ".logits.jsonl"));
  ASSERT_EQ(g.logits.size(), g.tokens.size());
  const int nv = model->config().n_vocab;
  ThreadPool pool(2);

  std::vector<float> batched = logits_batched(*model, g.tokens, pool);
  std::vector<float> stepwise = logits_stepwise(*model, g.tokens, pool);
  check_against_golden(gc.exact, g, batched, nv, "batched");
  check_against_golden(gc.exact, g, stepwise, nv, "token by token");
  EXPECT_LE(max_abs_diff(batched, stepwise), 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Model, ModelGolden,
                         ::testing::Values(GoldenCase{"tiny-11-F32", true}, GoldenCase{"tiny-11-F16", false},
                                           GoldenCase{"tiny-11-BF16", false}, GoldenCase{"tiny-11-Q8_0", false},
                                           GoldenCase{"tiny-11-Q4_0", false}, GoldenCase{"tiny-11-Q4_K_M", false},
                                           GoldenCase{"tiny-11-Q6_K", false}, GoldenCase{"tiny-11-Q4_1", false},
                                           GoldenCase{"tiny-11-Q5_0", false}, GoldenCase{"tiny-11-Q5_1", false},
                                           GoldenCase{"tiny-11-Q2_K", false}, GoldenCase{"tiny-11-Q3_K_M", false},
                                           GoldenCase{"tiny-11-Q5_K_M", false}, GoldenCase{"moe-13-F32", true}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// A single-threaded pool and a four-thread one give the same logits as two
// threads: work splitting never changes a reduction.
TEST(ModelGoldenThreads, ResultIndependentOfThreadCount) {
  auto model = load_model(golden_path("tiny-11-Q4_0", ".gguf"));
  Golden g = read_golden(golden_path("tiny-11-Q4_0", ".logits.jsonl"));
  ThreadPool one(1), two(2), four(4);
  std::vector<float> a = logits_batched(*model, g.tokens, one);
  EXPECT_EQ(a, logits_batched(*model, g.tokens, two));
  EXPECT_EQ(a, logits_batched(*model, g.tokens, four));
}

// Prefill in two slices (positions 0..9, then 10..end) equals one call.
TEST(ModelGoldenKVCache, SplitPrefillMatchesSingleCall) {
  auto model = load_model(golden_path("tiny-11-F32", ".gguf"));
  Golden g = read_golden(golden_path("tiny-11-F32", ".logits.jsonl"));
  const int nv = model->config().n_vocab, n = static_cast<int>(g.tokens.size());
  ThreadPool pool(2);
  std::vector<float> whole = logits_batched(*model, g.tokens, pool);
  KVCache cache(model->config(), n);
  std::vector<float> parts(static_cast<size_t>(n) * nv);
  model->forward(g.tokens.data(), 10, 0, cache, parts.data(), true, pool);
  model->forward(g.tokens.data() + 10, n - 10, 10, cache, parts.data() + 10 * nv, true, pool);
  EXPECT_EQ(cache.n_past(), n);
  EXPECT_LE(max_abs_diff(whole, parts), 1e-4f);

  // Rewinding to position 5 and replaying gives the same last logits.
  cache.truncate(5);
  std::vector<float> last(nv);
  model->forward(g.tokens.data() + 5, n - 5, 5, cache, last.data(), false, pool);
  std::vector<float> want(whole.end() - nv, whole.end());
  EXPECT_LE(max_abs_diff(want, last), 1e-4f);
}

}  // namespace
}  // namespace lineage::model_test
