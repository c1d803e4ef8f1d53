// Scheduler on the demo model. The truth for every completion is the same
// request run alone through generate() (itself tested against golden
// outputs): the same tokens, text and stop reason whatever else shares the
// batch. Also: log-probabilities against a direct forward pass, cancelling,
// the queue limit, shutdown, prefix reuse, embeddings and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/scheduler.h"

namespace lineage {
namespace {

const Engine& demo() {
  static std::unique_ptr<Engine> e = Engine::load(std::string(LINEAGE_SHARED_DIR) + "/models/shakespeare-5M.gguf", 2);
  return *e;
}

std::vector<int32_t> encode(const std::string& s) { return demo().tokenizer().encode(s, true, true); }

GenerateOptions greedy(int n) {
  GenerateOptions o;
  o.n_predict = n;
  o.sampling.temperature = 0;
  return o;
}

GenerateOptions seeded(int n, uint64_t seed) {
  GenerateOptions o;
  o.n_predict = n;
  o.sampling.seed = seed;
  return o;
}

struct Alone {
  GenerateResult res;
  std::string text;
};

Alone run_alone(const std::vector<int32_t>& prompt, const GenerateOptions& opt, int n_ctx) {
  KVCache cache(demo().config(), n_ctx);
  Alone a;
  a.res = generate(demo(), cache, prompt, opt, [&](const std::string& t) { a.text += t; });
  return a;
}

// What the callbacks of one request saw; read by the test after done.
struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  std::string text;
  std::vector<TokenLogprob> logprobs;
  int text_calls = 0;
  int done_calls = 0;
  CompletionResult res;

  void wait() {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return done_calls > 0; });
  }
};

// A request whose callbacks fill out; on_text_hook may veto (cancel).
CompletionRequest request(const std::vector<int32_t>& prompt, const GenerateOptions& opt, Outcome& out,
                          std::function<bool()> on_text_hook = nullptr) {
  CompletionRequest r;
  r.prompt = prompt;
  r.options = opt;
  r.on_text = [&out, hook = std::move(on_text_hook)](const std::string& t, const std::vector<TokenLogprob>& lp) {
    {
      std::lock_guard<std::mutex> lk(out.mu);
      out.text += t;
      out.logprobs.insert(out.logprobs.end(), lp.begin(), lp.end());
      ++out.text_calls;
    }
    return hook ? hook() : true;
  };
  r.on_done = [&out](const CompletionResult& res) {
    std::lock_guard<std::mutex> lk(out.mu);
    out.res = res;
    ++out.done_calls;
    out.cv.notify_all();
  };
  return r;
}

// A gate the scheduling thread can be held at from inside a callback.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool reached = false, open = false;
  void pass() {
    std::unique_lock<std::mutex> lk(mu);
    reached = true;
    cv.notify_all();
    cv.wait(lk, [&] { return open; });
  }
  void wait_reached() {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return reached; });
  }
  void release() {
    std::lock_guard<std::mutex> lk(mu);
    open = true;
    cv.notify_all();
  }
};

Scheduler::Submit submit(Scheduler& s, CompletionRequest r, std::shared_ptr<RequestHandle>* h = nullptr) {
  std::shared_ptr<RequestHandle> local;
  return s.submit(std::move(r), h ? h : &local);
}

TEST(RuntimeScheduler, ConcurrentRequestsMatchEachRunAlone) {
  const int n_ctx = 160;
  const std::vector<std::string> texts = {
      "ROMEO:\n",
      "FIRST CITIZEN:\nBefore we proceed any further, hear me speak.\n\nALL:\n",
      "KING HENRY:\nOnce more unto the breach",
      "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n",
      "HAMLET:\nTo be, or not to be",
      "MENENIUS:\nWhat work's, my countrymen, in hand? where go you\nWith bats and clubs?",
      "LADY MACBETH:\n",
      "GLOUCESTER:\nNow is the winter of our discontent",
  };
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerateOptions> opts;
  for (size_t i = 0; i < texts.size(); ++i) {
    prompts.push_back(encode(texts[i]));
    GenerateOptions o = i % 2 == 0 ? greedy(12 + 5 * static_cast<int>(i)) : seeded(15 + 4 * static_cast<int>(i), 100 + i);
    if (i == 3) o.sampling.repeat_penalty = 1.2f;
    if (i == 7) {
      o.n_predict = -1;  // until the context is full
      o.ignore_eos = true;
    }
    if (i == 5) o.ignore_eos = true;
    opts.push_back(o);
  }
  // Stop strings taken from the middle of what two requests write unstopped.
  for (size_t i : {1, 2}) {
    const std::string t = run_alone(prompts[i], opts[i], n_ctx).text;
    ASSERT_GT(t.size(), 12u);
    opts[i].stop = {t.substr(8, 3), "\x01never"};
  }

  // The engine's thread pool serves one forward pass at a time: the truth
  // is computed before the scheduler starts.
  std::vector<Alone> alone;
  for (size_t i = 0; i < prompts.size(); ++i) alone.push_back(run_alone(prompts[i], opts[i], n_ctx));

  SchedulerOptions so;
  so.n_slots = 3;  // some wait in the queue
  so.n_ctx = n_ctx;
  so.max_step_tokens = 8;  // prompts are read in slices beside generating slots
  Scheduler sched(demo(), so);
  std::vector<std::unique_ptr<Outcome>> outs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    outs.push_back(std::make_unique<Outcome>());
    ASSERT_EQ(submit(sched, request(prompts[i], opts[i], *outs.back())), Scheduler::Submit::ok);
  }
  std::set<std::string> reasons;
  for (size_t i = 0; i < prompts.size(); ++i) {
    outs[i]->wait();
    const Alone& a = alone[i];
    SCOPED_TRACE("request " + std::to_string(i));
    EXPECT_EQ(outs[i]->res.tokens, a.res.tokens);
    EXPECT_EQ(outs[i]->text, a.text);
    EXPECT_EQ(outs[i]->res.stop_reason, a.res.stop_reason);
    EXPECT_EQ(outs[i]->res.n_prompt, static_cast<int>(prompts[i].size()));
    EXPECT_EQ(outs[i]->done_calls, 1);
    reasons.insert(a.res.stop_reason);
  }
  // The requests cover the ways a completion ends.
  EXPECT_TRUE(reasons.count("stop"));
  EXPECT_TRUE(reasons.count("length"));
  EXPECT_TRUE(reasons.count("context"));
  const SchedulerStats st = sched.stats();
  EXPECT_EQ(st.requests_total, prompts.size());
  EXPECT_EQ(st.queue_depth, 0);
  EXPECT_EQ(st.n_slots, 3);
  uint64_t gen = 0;
  for (auto& o : outs) gen += o->res.tokens.size();
  EXPECT_EQ(st.generated_tokens_total, gen);
}

// The log-probability of each chosen token, and the best alternatives, are
// the log-softmax of the logits of a direct forward pass over the same
// tokens, computed here in double precision.
TEST(RuntimeScheduler, LogprobsAreTheLogSoftmaxOfDirectLogits) {
  const Model& m = demo().model();
  const int nv = m.config().n_vocab;
  const auto prompt = encode("DUKE VINCENTIO:\n");
  SchedulerOptions so;
  so.n_slots = 2;
  so.n_ctx = 64;
  Scheduler sched(demo(), so);
  Outcome out;
  CompletionRequest r = request(prompt, seeded(6, 7), out);
  r.n_logprobs = 3;
  ASSERT_EQ(submit(sched, std::move(r)), Scheduler::Submit::ok);
  sched.shutdown(60);  // the pool is free for the direct passes below
  ASSERT_EQ(out.done_calls, 1);
  ASSERT_EQ(out.logprobs.size(), out.res.tokens.size());
  ASSERT_FALSE(out.res.tokens.empty());

  KVCache cache(m.config(), 64);
  std::vector<float> logits(nv);
  m.forward(prompt.data(), static_cast<int>(prompt.size()), 0, cache, logits.data(), false, demo().pool());
  int pos = static_cast<int>(prompt.size());
  for (size_t k = 0; k < out.res.tokens.size(); ++k) {
    const int32_t id = out.res.tokens[k];
    double mx = -1e30, sum = 0;
    for (float l : logits) mx = std::max(mx, static_cast<double>(l));
    for (float l : logits) sum += std::exp(l - mx);
    auto lp = [&](int32_t t) { return logits[t] - mx - std::log(sum); };
    const TokenLogprob& got = out.logprobs[k];
    EXPECT_EQ(got.token, id);
    EXPECT_EQ(got.piece, demo().tokenizer().token_to_piece(id));
    EXPECT_NEAR(got.logprob, lp(id), 1e-5);
    std::vector<int32_t> order(nv);
    for (int i = 0; i < nv; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    ASSERT_EQ(got.top.size(), 3u);
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(got.top[j].first, order[j]);
      EXPECT_NEAR(got.top[j].second, lp(order[j]), 1e-5);
    }
    m.forward(&id, 1, pos++, cache, logits.data(), false, demo().pool());
  }
}

TEST(RuntimeScheduler, CancelFreesTheSlotForTheQueue) {
  SchedulerOptions so;
  so.n_slots = 1;
  so.n_ctx = 200;
  Scheduler sched(demo(), so);
  const auto p = encode("ROMEO:\n");
  GenerateOptions endless = greedy(-1);
  endless.ignore_eos = true;

  // Cancelled through the handle from this thread once it is streaming.
  Gate gate;
  Outcome a, b, c;
  std::shared_ptr<RequestHandle> ha;
  int calls = 0;
  ASSERT_EQ(submit(sched, request(p, endless, a, [&] {
                     if (++calls == 2) gate.pass();
                     return true;
                   }),
                   &ha),
            Scheduler::Submit::ok);
  ASSERT_TRUE(ha);
  // c cancels itself from its callback after three pieces of text.
  int c_calls = 0;
  ASSERT_EQ(submit(sched, request(p, endless, c, [&] { return ++c_calls < 3; })), Scheduler::Submit::ok);
  ASSERT_EQ(submit(sched, request(encode("JULIET:\n"), greedy(10), b)), Scheduler::Submit::ok);
  gate.wait_reached();
  EXPECT_EQ(sched.stats().queue_depth, 2);
  ha->cancel();
  gate.release();
  sched.shutdown(60);
  EXPECT_EQ(a.res.stop_reason, "cancelled");
  EXPECT_LT(a.res.tokens.size(), 190u);
  EXPECT_EQ(c.res.stop_reason, "cancelled");
  EXPECT_EQ(c.text_calls, 3);
  const Alone alone = run_alone(encode("JULIET:\n"), greedy(10), 200);
  EXPECT_EQ(b.res.tokens, alone.res.tokens);
  EXPECT_EQ(b.text, alone.text);
  ha->cancel();  // after the end: nothing happens
  EXPECT_EQ(a.done_calls, 1);
}

TEST(RuntimeScheduler, QueueFullPastMaxQueue) {
  SchedulerOptions so;
  so.n_slots = 1;
  so.n_ctx = 64;
  so.max_queue = 2;
  Scheduler sched(demo(), so);
  const auto p = encode("ROMEO:\n");
  Gate gate;
  Outcome a, b, c, d;
  bool first = true;
  ASSERT_EQ(submit(sched, request(p, greedy(4), a, [&] {
                     if (first) gate.pass();
                     first = false;
                     return true;
                   })),
            Scheduler::Submit::ok);
  gate.wait_reached();  // a holds the only slot; the queue is empty
  EXPECT_EQ(submit(sched, request(p, greedy(3), b)), Scheduler::Submit::ok);
  EXPECT_EQ(submit(sched, request(p, greedy(3), c)), Scheduler::Submit::ok);
  std::shared_ptr<RequestHandle> hd = std::make_shared<RequestHandle>();
  EXPECT_EQ(sched.submit(request(p, greedy(3), d), &hd), Scheduler::Submit::queue_full);
  EXPECT_FALSE(hd);
  const SchedulerStats st = sched.stats();
  EXPECT_EQ(st.queue_depth, 2);
  EXPECT_EQ(st.busy_slots, 1);
  gate.release();
  a.wait();
  b.wait();
  c.wait();
  EXPECT_EQ(b.res.tokens, c.res.tokens);
  EXPECT_EQ(d.done_calls, 0);
  EXPECT_EQ(d.text_calls, 0);
  EXPECT_EQ(sched.stats().requests_total, 3u);
}

TEST(RuntimeScheduler, ShutdownWithGraceFinishesTheWork) {
  SchedulerOptions so;
  so.n_slots = 2;
  so.n_ctx = 96;
  Scheduler sched(demo(), so);
  std::vector<std::unique_ptr<Outcome>> outs;
  const auto p = encode("HAMLET:\n");
  for (int i = 0; i < 4; ++i) {
    outs.push_back(std::make_unique<Outcome>());
    ASSERT_EQ(submit(sched, request(p, seeded(10, i), *outs.back())), Scheduler::Submit::ok);
  }
  sched.shutdown(600);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(outs[i]->done_calls, 1);
    EXPECT_EQ(outs[i]->res.tokens, run_alone(p, seeded(10, i), 96).res.tokens);
  }
  Outcome late;
  EXPECT_EQ(submit(sched, request(p, greedy(3), late)), Scheduler::Submit::shutting_down);
  EXPECT_EQ(late.done_calls, 0);
}

TEST(RuntimeScheduler, ShutdownWithoutGraceCancelsTheWork) {
  SchedulerOptions so;
  so.n_slots = 1;
  so.n_ctx = 200;
  Scheduler sched(demo(), so);
  const auto p = encode("ROMEO:\n");
  GenerateOptions endless = greedy(-1);
  endless.ignore_eos = true;
  Gate gate;
  Outcome a, b;
  bool first = true;
  ASSERT_EQ(submit(sched, request(p, endless, a, [&] {
                     if (first) gate.pass();
                     first = false;
                     return true;
                   })),
            Scheduler::Submit::ok);
  ASSERT_EQ(submit(sched, request(p, greedy(5), b)), Scheduler::Submit::ok);
  gate.wait_reached();
  std::thread closer([&] { sched.shutdown(0); });
  // Once submit() refuses, the deadline is set; only then may a go on.
  Outcome probe;
  while (submit(sched, request(p, greedy(1), probe)) != Scheduler::Submit::shutting_down) std::this_thread::yield();
  gate.release();
  closer.join();
  EXPECT_EQ(a.res.stop_reason, "shutdown");
  EXPECT_LT(a.res.tokens.size(), 190u);
  EXPECT_EQ(b.res.stop_reason, "shutdown");
  EXPECT_TRUE(b.res.tokens.empty());
  EXPECT_EQ(a.done_calls + b.done_calls, 2);
}

TEST(RuntimeScheduler, PrefixReuseGivesTheSameOutput) {
  const int n_ctx = 256;
  const std::string system =
      "FIRST CITIZEN:\nBefore we proceed any further, hear me speak.\n\nALL:\nSpeak, speak.\n\n"
      "FIRST CITIZEN:\nYou are all resolved rather to die than to famish?\n\n";
  const auto p1 = encode(system + "ALL:\nResolved.");
  const auto p2 = encode(system + "SECOND CITIZEN:\nWe know't.");
  const auto p3 = encode(system + "MENENIUS:\nWhy, masters,");
  auto lcp = [](const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return static_cast<int>(i);
  };
  ASSERT_GT(lcp(p1, p2), 40);
  const Alone a2 = run_alone(p2, seeded(12, 5), n_ctx), a3 = run_alone(p2, greedy(30), n_ctx),
              a4 = run_alone(p3, greedy(10), n_ctx);
  SchedulerOptions so;
  so.n_slots = 2;
  so.n_ctx = n_ctx;
  Scheduler sched(demo(), so);

  // In turn: the second request finds the first one's slot.
  Outcome o1, o2;
  ASSERT_EQ(submit(sched, request(p1, greedy(8), o1)), Scheduler::Submit::ok);
  o1.wait();
  EXPECT_EQ(o1.res.n_cached, 0);
  ASSERT_EQ(submit(sched, request(p2, seeded(12, 5), o2)), Scheduler::Submit::ok);
  o2.wait();
  EXPECT_EQ(o2.res.n_cached, lcp(p1, p2));
  EXPECT_EQ(o2.res.tokens, a2.res.tokens);
  EXPECT_EQ(o2.text, a2.text);

  // At once: p3 arrives while p2's slot is busy and the other slot holds
  // p1; the longer shared prefix is copied from the busy slot's cache.
  Outcome o3, o4;
  bool submitted = false;
  ASSERT_EQ(submit(sched, request(p2, greedy(30), o3, [&] {
                     if (!submitted) {
                       submitted = true;
                       EXPECT_EQ(submit(sched, request(p3, greedy(10), o4)), Scheduler::Submit::ok);
                     }
                     return true;
                   })),
            Scheduler::Submit::ok);
  o3.wait();
  o4.wait();
  EXPECT_EQ(o3.res.n_cached, static_cast<int>(p2.size()) - 1);
  EXPECT_EQ(o4.res.n_cached, lcp(p2, p3));
  EXPECT_EQ(o3.res.tokens, a3.res.tokens);
  EXPECT_EQ(o4.res.tokens, a4.res.tokens);
  EXPECT_EQ(o4.text, a4.text);
  EXPECT_EQ(sched.stats().cached_tokens_total,
            static_cast<uint64_t>(o2.res.n_cached + o3.res.n_cached + o4.res.n_cached));
}

// Unit length, and the normalized mean of the final hidden states that
// forward_batch returns (whose product with the output matrix is checked
// against golden logits in the model tests).
TEST(RuntimeScheduler, EmbeddingsAreTheNormalizedMeanHiddenState) {
  SchedulerOptions so;
  so.n_slots = 1;
  so.n_ctx = 64;
  Scheduler sched(demo(), so);
  const auto t = encode("To be, or not to be, that is the question");
  const std::vector<float> e = sched.embed(t);
  const ModelConfig& c = demo().config();
  ASSERT_EQ(e.size(), static_cast<size_t>(c.n_embd));
  double norm = 0;
  for (float v : e) norm += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-6);

  KVCache cache(c, static_cast<int>(t.size()));
  std::vector<float> hidden(t.size() * c.n_embd);
  SeqBatch b;
  b.tokens = t.data();
  b.n = static_cast<int>(t.size());
  b.cache = &cache;
  b.hidden = hidden.data();
  demo().model().forward_batch(&b, 1, demo().pool());
  std::vector<double> mean(c.n_embd, 0.0);
  for (size_t p = 0; p < t.size(); ++p)
    for (int j = 0; j < c.n_embd; ++j) mean[j] += hidden[p * c.n_embd + j] / static_cast<double>(t.size());
  double mn = 0;
  for (double v : mean) mn += v * v;
  for (int j = 0; j < c.n_embd; ++j) EXPECT_NEAR(e[j], mean[j] / std::sqrt(mn), 1e-6);
  EXPECT_NE(sched.embed(encode("Now is the winter of our discontent")), e);
  EXPECT_THROW(sched.embed({}), Error);
  EXPECT_THROW(sched.embed(std::vector<int32_t>(65, 1)), Error);
}

// A callback that throws ends its own request with "error"; the
// scheduling thread goes on serving the others.
TEST(RuntimeScheduler, AThrowingCallbackEndsOnlyItsRequest) {
  SchedulerOptions so;
  so.n_slots = 2;
  so.n_ctx = 64;
  const auto p = encode("ROMEO:\n");
  const Alone alone = run_alone(p, greedy(12), 64);
  Scheduler sched(demo(), so);
  Outcome bad, good, after;
  CompletionRequest r = request(p, greedy(12), bad, []() -> bool { throw std::runtime_error("client went away"); });
  ASSERT_EQ(submit(sched, std::move(r)), Scheduler::Submit::ok);
  ASSERT_EQ(submit(sched, request(p, greedy(12), good)), Scheduler::Submit::ok);
  CompletionRequest thrower = request(p, greedy(3), after);
  thrower.on_done = [&after](const CompletionResult& res) {
    {
      std::lock_guard<std::mutex> lk(after.mu);
      after.res = res;
      ++after.done_calls;
      after.cv.notify_all();
    }
    throw std::runtime_error("on_done failed");
  };
  ASSERT_EQ(submit(sched, std::move(thrower)), Scheduler::Submit::ok);
  sched.shutdown(60);
  EXPECT_EQ(bad.res.stop_reason, "error");
  EXPECT_NE(bad.res.error.find("client went away"), std::string::npos);
  EXPECT_EQ(bad.done_calls, 1);
  EXPECT_EQ(good.res.tokens, alone.res.tokens);
  EXPECT_EQ(good.text, alone.text);
  EXPECT_EQ(after.done_calls, 1);
  EXPECT_EQ(after.res.stop_reason, "length");
}

TEST(RuntimeScheduler, BadInputIsAnErrorWithNoCallback) {
  SchedulerOptions so;
  so.n_slots = 1;
  so.n_ctx = 32;
  Scheduler sched(demo(), so);
  Outcome out;
  const int nv = demo().config().n_vocab;
  std::shared_ptr<RequestHandle> h;
  EXPECT_THROW(sched.submit(request({}, greedy(3), out), &h), Error);
  EXPECT_THROW(sched.submit(request(std::vector<int32_t>(32, 1), greedy(3), out), &h), Error);
  EXPECT_THROW(sched.submit(request({1, nv}, greedy(3), out), &h), Error);
  EXPECT_THROW(sched.submit(request({1, -1}, greedy(3), out), &h), Error);
  CompletionRequest r = request({1, 2}, greedy(3), out);
  r.n_logprobs = 21;
  EXPECT_THROW(sched.submit(std::move(r), &h), Error);
  GenerateOptions nan_temp = greedy(3);
  nan_temp.sampling.temperature = NAN;
  EXPECT_THROW(sched.submit(request({1, 2}, nan_temp, out), &h), Error);
  EXPECT_FALSE(h);
  SchedulerOptions bad = so;
  bad.n_slots = 0;
  EXPECT_THROW(Scheduler(demo(), bad), Error);
  sched.shutdown(5);
  EXPECT_EQ(out.done_calls + out.text_calls, 0);
  EXPECT_EQ(sched.stats().requests_total, 0u);
}

}  // namespace
}  // namespace lineage
