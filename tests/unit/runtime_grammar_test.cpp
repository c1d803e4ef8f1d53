// Grammars through generate() and the scheduler on the demo model: outputs
// match the grammar (checked with std::regex, written apart from the GBNF),
// the budget closes the output at small limits, a request's tokens are the
// same alone and batched with other constrained requests, and a grammar
// that does not parse is an Error before anything runs.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <regex>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/scheduler.h"

namespace lineage {
namespace {

const Engine& demo() {
  static std::unique_ptr<Engine> e = Engine::load(std::string(LINEAGE_SHARED_DIR) + "/models/shakespeare-5M.gguf", 2);
  return *e;
}

const char* kGrammar = "root ::= name \": \" word ( \" \" word ){0,6} [.!?]\n"
                       "name ::= \"ROMEO\" | \"JULIET\" | \"NURSE\"\n"
                       "word ::= [a-zA-Z']{1,12}\n";
const std::regex kRegex("(ROMEO|JULIET|NURSE): [a-zA-Z']{1,12}( [a-zA-Z']{1,12}){0,6}[.!?]");

GenerateOptions options(int n, uint64_t seed, float temp) {
  GenerateOptions o;
  o.n_predict = n;
  o.sampling.seed = seed;
  o.sampling.temperature = temp;
  o.grammar = kGrammar;
  return o;
}

TEST(RuntimeGrammar, GenerateFollowsTheGrammarWithinTheBudget) {
  const auto prompt = demo().tokenizer().encode("The lovers speak:\n", true, true);
  for (int n : {9, 12, 40}) {  // "NURSE: a." is 9 bytes, the shortest sentence
    for (uint64_t seed : {1, 2, 3}) {
      KVCache cache(demo().config(), 128);
      std::string text;
      GenerateResult r = generate(demo(), cache, prompt, options(n, seed, 1.3f), [&](const std::string& t) { text += t; });
      EXPECT_TRUE(std::regex_match(text, kRegex)) << n << " " << seed << " [" << text << "]";
      EXPECT_LE(static_cast<int>(r.tokens.size()), n);
      if (r.stop_reason != "length") {
        EXPECT_EQ(r.stop_reason, "eos");  // the grammar ended it
      }
    }
  }
}

struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  std::string text;
  bool done = false;
  CompletionResult res;
};

TEST(RuntimeGrammar, SchedulerRequestsEqualGenerateAlone) {
  const auto prompt = demo().tokenizer().encode("ROMEO:\n", true, true);
  SchedulerOptions so;
  so.n_slots = 3;
  so.n_ctx = 128;
  Scheduler sched(demo(), so);
  std::vector<std::unique_ptr<Outcome>> outs;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    auto out = std::make_unique<Outcome>();
    Outcome* o = out.get();
    CompletionRequest req;
    req.prompt = prompt;
    req.options = options(30, seed, 0.9f);
    req.on_text = [o](const std::string& t, const std::vector<TokenLogprob>&) {
      std::lock_guard<std::mutex> lk(o->mu);
      o->text += t;
      return true;
    };
    req.on_done = [o](const CompletionResult& r) {
      std::lock_guard<std::mutex> lk(o->mu);
      o->res = r;
      o->done = true;
      o->cv.notify_all();
    };
    ASSERT_EQ(sched.submit(std::move(req), nullptr), Scheduler::Submit::ok);
    outs.push_back(std::move(out));
  }
  // Every request first: generate() alone shares the engine's thread pool.
  for (auto& o : outs) {
    std::unique_lock<std::mutex> lk(o->mu);
    o->cv.wait(lk, [&] { return o->done; });
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    Outcome& o = *outs[i];
    KVCache cache(demo().config(), 128);
    std::string alone;
    GenerateResult r = generate(demo(), cache, prompt, options(30, i + 1, 0.9f), [&](const std::string& t) { alone += t; });
    EXPECT_EQ(o.res.tokens, r.tokens) << i;
    EXPECT_EQ(o.res.stop_reason, r.stop_reason);
    EXPECT_EQ(o.text, alone);
    EXPECT_TRUE(std::regex_match(o.text, kRegex)) << o.text;
  }
}

TEST(RuntimeGrammar, BadGrammarIsAnErrorUpFront) {
  const auto prompt = demo().tokenizer().encode("ROMEO:\n", true, true);
  GenerateOptions o = options(8, 1, 0.8f);
  o.grammar = "root ::= \"a\" undefined-rule";
  KVCache cache(demo().config(), 64);
  bool called = false;
  EXPECT_THROW(generate(demo(), cache, prompt, o, [&](const std::string&) { called = true; }), Error);
  EXPECT_FALSE(called);
  SchedulerOptions so;
  so.n_slots = 1;
  so.n_ctx = 64;
  Scheduler sched(demo(), so);
  CompletionRequest req;
  req.prompt = prompt;
  req.options = o;
  std::shared_ptr<RequestHandle> h;
  EXPECT_THROW(sched.submit(std::move(req), &h), Error);
  EXPECT_EQ(h, nullptr);
}

}  // namespace
}  // namespace lineage
