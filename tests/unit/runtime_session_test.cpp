// Session: prefix reuse gives the same tokens as computing the whole prompt
// afresh with generate(), reuses exactly the shared prefix, can be cancelled,
// and a reset session behaves like a new one. Runs the demo model.
#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace lineage {
namespace {

const Engine& demo() {
  static std::unique_ptr<Engine> e = Engine::load(std::string(LINEAGE_SHARED_DIR) + "/models/shakespeare-5M.gguf", 2);
  return *e;
}

GenerateOptions greedy(int n) {
  GenerateOptions o;
  o.n_predict = n;
  o.sampling.temperature = 0;
  return o;
}

std::vector<int32_t> fresh(const std::vector<int32_t>& prompt, const GenerateOptions& opt) {
  KVCache cache(demo().config(), 256);
  return generate(demo(), cache, prompt, opt, [](const std::string&) {}).tokens;
}

std::vector<int32_t> cat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(RuntimeSession, PrefixReuseMatchesAFreshComputation) {
  const Tokenizer& tok = demo().tokenizer();
  Session s(demo(), 256);
  const auto p1 = tok.encode("FIRST CITIZEN:\nBefore we proceed any further, hear me speak.\n\nROMEO:\n", true, true);
  std::string text;
  GenerateResult r1 = s.generate(p1, greedy(20), [&](const std::string& t) { text += t; });
  EXPECT_EQ(s.last_reused(), 0);
  EXPECT_EQ(r1.tokens, fresh(p1, greedy(20)));
  EXPECT_EQ(text, tok.decode(r1.tokens).substr(0, text.size()));
  // At the length limit the last sampled token was never fed; everything
  // before it was.
  ASSERT_EQ(r1.stop_reason, "length");
  EXPECT_EQ(s.tokens(), cat(p1, std::vector<int32_t>(r1.tokens.begin(), r1.tokens.end() - 1)));

  // The next turn extends what is cached: only the new part is computed.
  const auto cached = s.tokens();
  const auto p2 = cat(cached, tok.encode("\n\nFIRST CITIZEN:\nYou are all resolved rather to die than to famish?", false, false));
  GenerateResult r2 = s.generate(p2, greedy(30), [](const std::string&) {});
  EXPECT_EQ(s.last_reused(), static_cast<int>(cached.size()));
  EXPECT_EQ(r2.tokens, fresh(p2, greedy(30)));

  // A prompt that differs from position 5 on keeps 5 positions.
  auto p3 = p1;
  p3[5] = tok.encode(" Rome", false, false).front();
  GenerateResult r3 = s.generate(p3, greedy(25), [](const std::string&) {});
  EXPECT_EQ(s.last_reused(), 5);
  EXPECT_EQ(r3.tokens, fresh(p3, greedy(25)));

  // The same prompt again: its last token is recomputed for its logits.
  GenerateResult r4 = s.generate(p3, greedy(25), [](const std::string&) {});
  EXPECT_EQ(s.last_reused(), static_cast<int>(p3.size()) - 1);
  EXPECT_EQ(r4.tokens, r3.tokens);
}

TEST(RuntimeSession, CancelStopsAndKeepsWhatWasFed) {
  const Tokenizer& tok = demo().tokenizer();
  Session s(demo(), 256);
  const auto p = tok.encode("KING HENRY:\n", true, true);
  std::atomic<bool> cancel{true};
  GenerateResult r = s.generate(p, greedy(50), [](const std::string&) {}, &cancel);
  EXPECT_EQ(r.stop_reason, "cancelled");
  EXPECT_TRUE(r.tokens.empty());

  cancel = false;
  int pieces = 0;
  r = s.generate(p, greedy(50), [&](const std::string&) {
    if (++pieces == 3) cancel = true;
  }, &cancel);
  EXPECT_EQ(r.stop_reason, "cancelled");
  EXPECT_EQ(pieces, 3);
  const auto full = fresh(p, greedy(50));
  ASSERT_LE(r.tokens.size(), full.size());
  EXPECT_EQ(r.tokens, std::vector<int32_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(r.tokens.size())));
  EXPECT_EQ(s.tokens(), cat(p, r.tokens));
}

TEST(RuntimeSession, ResetBehavesLikeANewSession) {
  const Tokenizer& tok = demo().tokenizer();
  const auto p = tok.encode("JULIET:\n", true, true);
  GenerateOptions opt;
  opt.n_predict = 30;
  opt.sampling.temperature = 1.0f;
  opt.sampling.seed = 42;
  Session a(demo(), 256);
  auto first = a.generate(p, opt, [](const std::string&) {}).tokens;
  a.generate(p, opt, [](const std::string&) {});
  a.reset();
  EXPECT_TRUE(a.tokens().empty());
  EXPECT_EQ(a.generate(p, opt, [](const std::string&) {}).tokens, first);
  Session b(demo(), 256);
  EXPECT_EQ(b.generate(p, opt, [](const std::string&) {}).tokens, first);
}

TEST(RuntimeSession, BadPromptsAreErrors) {
  Session s(demo(), 16);
  EXPECT_THROW(s.generate({}, greedy(4), [](const std::string&) {}), Error);
  EXPECT_THROW(s.generate(std::vector<int32_t>(17, 5), greedy(4), [](const std::string&) {}), Error);
  EXPECT_THROW(s.generate({1, 99999}, greedy(4), [](const std::string&) {}), Error);
  // Still usable afterwards.
  auto r = s.generate({1, 5, 6}, greedy(20), [](const std::string&) {});
  EXPECT_EQ(r.stop_reason == "context" || r.stop_reason == "eos" || r.stop_reason == "length", true);
  EXPECT_LE(static_cast<int>(s.tokens().size()), 16);
}

}  // namespace
}  // namespace lineage
