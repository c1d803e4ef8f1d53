// Aggregate generation throughput of the continuous-batching scheduler:
// N concurrent streams (default 1, 4 and 16), each a short distinct prompt
// followed by a fixed number of sampled tokens (end-of-generation ignored),
// all submitted at once. Prints generated tokens per second of wall time for
// the whole run, and for the generation phase alone (once every prompt has
// been read). Run by hand:
//   scheduler_throughput MODEL.gguf [--threads T] [--n-predict N] [--streams 1,4,16]
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/scheduler.h"

using namespace lineage;

namespace {

using Clock = std::chrono::steady_clock;

const char* kOpenings[] = {
    "The history of the river valley begins",  "In the morning the market square was",
    "A short guide to repairing old clocks:",   "Dear committee, I am writing to ask",
    "The recipe calls for three cups of",       "When the storm reached the harbour the",
    "Chapter one. The lighthouse keeper had",   "Notes on the migration of birds across",
    "The first rule of the workshop is that",   "Once upon a time, in a village near",
    "The report summarises the survey of",      "Instructions for assembling the shelf:",
    "The old train station had been closed",    "Our team spent the summer measuring the",
    "A letter arrived on a rainy Tuesday with", "The museum's newest exhibit shows how",
};

struct Run {
  double wall = 0, gen_wall = 0;
  uint64_t generated = 0, prompt = 0, gen_tokens = 0;
};

Run run_streams(const Engine& engine, int streams, int n_predict) {
  const Tokenizer& tok = engine.tokenizer();
  std::vector<std::vector<int32_t>> prompts;
  int longest = 0;
  for (int i = 0; i < streams; ++i) {
    std::string text = kOpenings[i % 16];
    if (i >= 16) text += " (" + std::to_string(i) + ")";
    prompts.push_back(tok.encode(text, true, false));
    longest = std::max(longest, static_cast<int>(prompts.back().size()));
  }
  SchedulerOptions so;
  so.n_slots = streams;
  so.n_ctx = longest + n_predict + 8;
  Scheduler sched(engine, so);

  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  // When each token of each stream was sampled (one-token log-probability
  // requests make on_text run once per token).
  std::vector<std::vector<Clock::time_point>> when(static_cast<size_t>(streams));
  Run r;
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < streams; ++i) {
    CompletionRequest req;
    req.prompt = prompts[i];
    req.options.n_predict = n_predict;
    req.options.ignore_eos = true;
    req.options.sampling.seed = static_cast<uint64_t>(i);
    req.n_logprobs = 0;
    req.on_text = [&when, i](const std::string&, const std::vector<TokenLogprob>& lp) {
      when[i].insert(when[i].end(), lp.size(), Clock::now());
      return true;
    };
    req.on_done = [&](const CompletionResult& res) {
      std::lock_guard<std::mutex> lk(mu);
      r.generated += res.tokens.size();
      r.prompt += static_cast<uint64_t>(res.n_prompt);
      ++done;
      cv.notify_all();
    };
    std::shared_ptr<RequestHandle> h;
    if (sched.submit(std::move(req), &h) != Scheduler::Submit::ok) fail("the scheduler refused a request");
  }
  {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return done == streams; });
  }
  const Clock::time_point t1 = Clock::now();
  r.wall = std::chrono::duration<double>(t1 - t0).count();
  // The generation phase starts when the last stream samples its first token.
  Clock::time_point start = t0;
  for (const auto& w : when)
    if (!w.empty()) start = std::max(start, w.front());
  for (const auto& w : when)
    for (const auto& t : w) r.gen_tokens += t > start;
  r.gen_wall = std::chrono::duration<double>(t1 - start).count();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) fail("usage: scheduler_throughput MODEL.gguf [--threads T] [--n-predict N] [--streams 1,4,16]");
    std::string model = argv[1], streams_arg = "1,4,16";
    int threads = 0, n_predict = 64;
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) fail("option ", a, " needs a value");
      if (a == "--threads")
        threads = std::atoi(argv[++i]);
      else if (a == "--n-predict")
        n_predict = std::atoi(argv[++i]);
      else if (a == "--streams")
        streams_arg = argv[++i];
      else
        fail("unknown option ", a);
    }
    if (n_predict < 1) fail("--n-predict must be at least 1");
    std::vector<int> streams;
    std::stringstream ss(streams_arg);
    for (std::string part; std::getline(ss, part, ',');) {
      const int n = std::atoi(part.c_str());
      if (n < 1 || n > 256) fail("--streams wants numbers in 1..256, got \"", part, "\"");
      streams.push_back(n);
    }
    auto engine = Engine::load(model, threads);
    std::printf("model %s, %d threads, %d tokens per stream\n", model.c_str(), engine->pool().size(), n_predict);
    std::printf("%8s %10s %14s %16s\n", "streams", "wall s", "gen tok/s", "gen-phase tok/s");
    for (int n : streams) {
      const Run r = run_streams(*engine, n, n_predict);
      const double gen_phase = r.gen_wall > 0 ? r.gen_tokens / r.gen_wall : 0;
      std::printf("%8d %10.2f %14.1f %16.1f\n", n, r.wall, r.generated / r.wall, gen_phase);
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
