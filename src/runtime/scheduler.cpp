// The scheduling thread's loop: admit queued requests into free slots
// (reusing the longest cached prefix), build one multi-sequence batch from
// the next token of every generating slot plus prompt slices, run it, then
// sample, stream and finish per slot. Requests and embeddings reach the
// thread through a mutex-guarded queue; everything about a running request
// is touched by the scheduling thread only.
#include "runtime/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "runtime/kv_cache.h"
#include "runtime/text_stream.h"
#include "sampling/sampler.h"

namespace lineage {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct Queued {
  CompletionRequest req;
  std::shared_ptr<RequestHandle> handle;
  Clock::time_point submitted;
  std::shared_ptr<const Grammar> grammar;  // parsed at submit(); null when unconstrained
};

struct EmbedJob {
  const std::vector<int32_t>* tokens = nullptr;
  std::vector<float> out;
  std::exception_ptr error;
  bool done = false;
};

// A request that holds a slot.
struct Running {
  Running(Queued q, const GrammarVocab* vocab)
      : req(std::move(q.req)),
        handle(std::move(q.handle)),
        submitted(q.submitted),
        sampler(req.options.sampling),
        stream(req.options.stop) {
    if (q.grammar) grammar = std::make_unique<GrammarConstraint>(std::move(q.grammar), *vocab, !req.options.ignore_eos);
  }
  CompletionRequest req;
  std::shared_ptr<RequestHandle> handle;
  Clock::time_point submitted, started, first_token;
  bool has_started = false, has_first_token = false;
  Sampler sampler;
  TextStream stream;
  std::unique_ptr<GrammarConstraint> grammar;  // this request's own matcher
  bool budgeted = false;  // a complete output fits the token limit: keep it completable
  std::vector<int32_t> history;  // the prompt, then every generated token
  int fed = 0;                   // prompt tokens whose keys and values are cached
  bool generating = false;
  int32_t next = 0;  // sampled and not yet fed
  uint64_t order = 0;
  std::vector<TokenLogprob> logprobs;  // not yet passed to on_text
  CompletionResult result;
};

struct Slot {
  Slot(const Model& m, int n_ctx) : cache(m, n_ctx) {}
  KVCache cache;
  std::vector<int32_t> tokens;  // ids of cache positions [0, n_past), always cache.n_past() long
  std::unique_ptr<Running> run;
};

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}


TokenLogprob make_logprob(const float* logits, int n_vocab, int32_t id, int n_top, const Tokenizer& tok) {
  float mx = -INFINITY;
  for (int i = 0; i < n_vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = static_cast<double>(mx) + std::log(sum);
  TokenLogprob lp;
  lp.token = id;
  lp.piece = tok.token_to_piece(id);
  lp.logprob = static_cast<float>(static_cast<double>(logits[id]) - lse);
  if (n_top > 0) {
    std::vector<int32_t> ids(static_cast<size_t>(n_vocab));
    for (int i = 0; i < n_vocab; ++i) ids[i] = i;
    const size_t k = std::min<size_t>(static_cast<size_t>(n_top), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<long>(k), ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (size_t j = 0; j < k; ++j)
      lp.top.emplace_back(ids[j], static_cast<float>(static_cast<double>(logits[ids[j]]) - lse));
  }
  return lp;
}

}  // namespace

struct Scheduler::Impl {
  Impl(const Engine& e, const SchedulerOptions& o) : engine(e), opt(o) {}

  const Engine& engine;
  SchedulerOptions opt;
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<float> logits;  // [n_slots][n_vocab]
  uint64_t admissions = 0;

  mutable std::mutex mu;
  std::condition_variable wake;  // the scheduling thread waits here
  std::condition_variable done;  // shutdown() and embed() wait here
  std::deque<Queued> queue;
  std::deque<EmbedJob*> embeds;
  bool accepting = true;
  bool stopping = false;
  bool has_deadline = false;
  Clock::time_point deadline;
  int reserved = 0;     // slots holding (or about to hold) a request
  int outstanding = 0;  // submitted and on_done not yet returned
  SchedulerStats st;
  std::thread thread;

  void loop();
  void fail_running(const char* what);
  void step();
  void run_embed(EmbedJob& job);
  void admit(Queued& q);
  void forward(std::vector<SeqBatch>& batch, std::vector<Slot*>& owners);
  void after_forward(Slot& s, int n_fed, float* row);
  void sample(Slot& s, float* row);
  bool emit(Running& r, const std::string& text);
  void finish(Slot& s, const std::string& reason, const std::string& error = "");
  void finish_queued(Queued& q, const std::string& reason, const std::string& error = "");
  void account(const CompletionResult& r);
  void release(bool held_slot);
  std::vector<float> embed_now(const std::vector<int32_t>& tokens);
};

void Scheduler::Impl::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu);
      wake.wait(lk, [&] { return stopping || !embeds.empty() || !queue.empty() || reserved > 0; });
      if (stopping && embeds.empty() && queue.empty() && reserved == 0) return;
    }
    try {
      step();
    } catch (const std::exception& e) {
      fail_running(e.what());
    } catch (...) {
      fail_running("unknown error");
    }
  }
}

// Something outside a single request's work failed (memory, most likely):
// what is running ends rather than the thread.
void Scheduler::Impl::fail_running(const char* what) {
  for (auto& s : slots)
    if (s->run) {
      try {
        finish(*s, "error", what);
      } catch (...) {
      }
    }
}

void Scheduler::Impl::step() {
  std::vector<EmbedJob*> jobs;
  std::vector<Queued> ended, admitted;
  std::vector<std::string> ended_reason;
  bool cancel_all = false;
  {
    std::lock_guard<std::mutex> lk(mu);
    jobs.assign(embeds.begin(), embeds.end());
    embeds.clear();
    cancel_all = has_deadline && Clock::now() >= deadline;
    int free_slots = static_cast<int>(slots.size()) - reserved;
    while (!queue.empty()) {
      Queued& q = queue.front();
      if (cancel_all || q.handle->cancelled()) {
        ended_reason.push_back(cancel_all ? "shutdown" : "cancelled");
        ended.push_back(std::move(q));
      } else if (free_slots > 0) {
        --free_slots;
        ++reserved;
        admitted.push_back(std::move(q));
      } else {
        break;
      }
      queue.pop_front();
    }
    // A cancelled request further back also leaves the queue now.
    for (auto it = queue.begin(); it != queue.end();) {
      if (it->handle->cancelled()) {
        ended_reason.push_back("cancelled");
        ended.push_back(std::move(*it));
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
  }

  for (EmbedJob* job : jobs) {
    try {
      job->out = embed_now(*job->tokens);
    } catch (...) {
      job->error = std::current_exception();
    }
    std::lock_guard<std::mutex> lk(mu);
    job->done = true;
    done.notify_all();
  }
  for (size_t i = 0; i < ended.size(); ++i) finish_queued(ended[i], ended_reason[i]);
  for (auto& s : slots)
    if (s->run && (cancel_all || s->run->handle->cancelled())) finish(*s, cancel_all ? "shutdown" : "cancelled");
  for (Queued& q : admitted) {
    try {
      admit(q);
    } catch (const std::exception& e) {
      finish_queued(q, "error", e.what());
      std::lock_guard<std::mutex> lk(mu);
      --reserved;
    }
  }

  // Every generating slot feeds its one sampled token; prompts being read
  // share what is left of the step's budget, oldest first, so a long prompt
  // is read in slices while the others keep generating.
  std::vector<SeqBatch> batch;
  std::vector<Slot*> owners;
  const size_t nv = static_cast<size_t>(engine.config().n_vocab);
  int budget = opt.max_step_tokens;
  std::vector<Slot*> reading;
  for (size_t i = 0; i < slots.size(); ++i) {
    Slot& s = *slots[i];
    if (!s.run) continue;
    if (!s.run->generating) {
      reading.push_back(&s);
      continue;
    }
    SeqBatch b;
    b.tokens = &s.run->next;
    b.n = 1;
    b.pos = static_cast<int>(s.tokens.size());
    b.cache = &s.cache;
    b.logits = logits.data() + i * nv;
    batch.push_back(b);
    owners.push_back(&s);
    --budget;
  }
  budget = std::max(budget, 1);
  std::sort(reading.begin(), reading.end(), [](Slot* a, Slot* b) { return a->run->order < b->run->order; });
  for (Slot* s : reading) {
    if (budget <= 0) break;
    Running& r = *s->run;
    const int left = static_cast<int>(r.req.prompt.size()) - r.fed;
    const int n = std::min(left, budget);
    budget -= n;
    SeqBatch b;
    b.tokens = r.req.prompt.data() + r.fed;
    b.n = n;
    b.pos = r.fed;
    b.cache = &s->cache;
    const size_t i = static_cast<size_t>(std::find_if(slots.begin(), slots.end(), [&](auto& p) { return p.get() == s; }) -
                                         slots.begin());
    b.logits = n == left ? logits.data() + i * nv : nullptr;
    batch.push_back(b);
    owners.push_back(s);
  }
  if (batch.empty()) return;

  const Clock::time_point now = Clock::now();
  for (Slot* s : owners)
    if (!s->run->has_started) {
      s->run->has_started = true;
      s->run->started = now;
      s->run->result.queue_seconds = seconds(s->run->submitted, now);
    }
  forward(batch, owners);
}

// Runs the batch; should it fail, each sequence runs alone so that only the
// requests whose own step fails end with "error".
void Scheduler::Impl::forward(std::vector<SeqBatch>& batch, std::vector<Slot*>& owners) {
  const Model& model = engine.model();
  const Clock::time_point t0 = Clock::now();
  std::vector<bool> ok(batch.size(), true);
  try {
    model.forward_batch(batch.data(), static_cast<int>(batch.size()), engine.pool());
  } catch (const std::exception&) {
    for (size_t i = 0; i < batch.size(); ++i) {
      try {
        model.forward_batch(&batch[i], 1, engine.pool());
      } catch (const std::exception& e) {
        ok[i] = false;
        Slot& s = *owners[i];
        s.cache.truncate(static_cast<int>(s.tokens.size()));
        finish(s, "error", e.what());
      }
    }
  }
  {
    std::lock_guard<std::mutex> lk(mu);
    st.busy_seconds_total += seconds(t0, Clock::now());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!ok[i]) continue;
    Slot& s = *owners[i];
    s.tokens.insert(s.tokens.end(), batch[i].tokens, batch[i].tokens + batch[i].n);
    try {
      after_forward(s, batch[i].n, batch[i].logits);
    } catch (const std::exception& e) {
      if (s.run) finish(s, "error", e.what());
    }
  }
}

void Scheduler::Impl::after_forward(Slot& s, int n_fed, float* row) {
  Running& r = *s.run;
  if (!r.generating) {
    r.fed += n_fed;
    if (r.fed < static_cast<int>(r.req.prompt.size())) return;
    r.generating = true;
    if (r.req.options.n_predict == 0) {
      r.result.prompt_seconds = seconds(r.started, Clock::now());
      finish(s, "length");
      return;
    }
  }
  sample(s, row);
}

void Scheduler::Impl::sample(Slot& s, float* row) {
  Running& r = *s.run;
  const Tokenizer& tok = engine.tokenizer();
  const int nv = engine.config().n_vocab;
  if (r.grammar) {
    if (r.grammar->finished()) {
      finish(s, "eos");
      return;
    }
    const int k = static_cast<int>(r.result.tokens.size());
    const int limit = grammar_token_limit(r.req.options.n_predict, k, static_cast<int>(s.tokens.size()), s.cache.n_ctx());
    if (k == 0) r.budgeted = limit >= 0 && r.grammar->need() <= static_cast<uint32_t>(limit);
    if (r.budgeted) r.grammar->set_budget(limit);
  }
  const int32_t id = r.sampler.sample(row, nv, r.history, r.grammar.get());
  if (!r.has_first_token) {
    r.has_first_token = true;
    r.first_token = Clock::now();
    r.result.prompt_seconds = seconds(r.started, r.first_token);
  }
  if (!r.req.options.ignore_eos && tok.is_end_of_generation(id)) {
    finish(s, "eos");
    return;
  }
  if (r.grammar) r.grammar->accept(id);
  r.result.tokens.push_back(id);
  r.history.push_back(id);
  // The sampler has applied the penalties to row in place; truncation and
  // temperature work on its own copy.
  if (r.req.n_logprobs >= 0) r.logprobs.push_back(make_logprob(row, nv, id, r.req.n_logprobs, tok));
  const std::string text = r.stream.push(tok.token_to_piece(id));
  if ((!text.empty() || !r.logprobs.empty()) && !emit(r, text)) {
    finish(s, "cancelled");
    return;
  }
  const int n_predict = r.req.options.n_predict;
  if (r.stream.stopped())
    finish(s, "stop");
  else if (n_predict >= 0 && static_cast<int>(r.result.tokens.size()) >= n_predict)
    finish(s, "length");
  else if (r.grammar && r.grammar->finished())
    finish(s, "eos");
  else if (static_cast<int>(s.tokens.size()) >= s.cache.n_ctx())
    finish(s, "context");
  else
    r.next = id;
}

bool Scheduler::Impl::emit(Running& r, const std::string& text) {
  std::vector<TokenLogprob> lps;
  lps.swap(r.logprobs);
  if (!r.req.on_text) return true;
  return r.req.on_text(text, lps);
}

void Scheduler::Impl::admit(Queued& q) {
  const std::vector<int32_t>& prompt = q.req.prompt;
  // The free slot whose cache shares the most with the prompt; among equals
  // the one holding least, so longer cached prefixes survive for later.
  Slot* best = nullptr;
  size_t best_len = 0;
  for (auto& s : slots) {
    if (s->run) continue;
    const size_t l = common_prefix(s->tokens, prompt);
    if (!best || l > best_len || (l == best_len && s->tokens.size() < best->tokens.size())) {
      best = s.get();
      best_len = l;
    }
  }
  Slot& s = *best;  // a slot was reserved for this request
  // The last prompt token is always computed: its logits are needed.
  size_t keep = std::min(best_len, prompt.size() - 1);
  s.tokens.resize(keep);
  s.cache.truncate(static_cast<int>(keep));
  // Another slot, busy or not, may hold more of the prompt (a shared system
  // prompt): its keys and values are copied rather than recomputed.
  const Slot* donor = nullptr;
  size_t donor_len = keep;
  for (auto& o : slots) {
    if (o.get() == &s) continue;
    const size_t l = std::min(common_prefix(o->tokens, prompt), prompt.size() - 1);
    if (l > donor_len) {
      donor = o.get();
      donor_len = l;
    }
  }
  if (donor) {
    // Keys and values depend only on the tokens up to each position.
    s.cache.copy_positions(donor->cache, static_cast<int>(keep), static_cast<int>(donor_len));
    s.tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(donor_len));
    keep = donor_len;
  }
  const GrammarVocab* vocab = q.grammar ? &engine.grammar_vocab() : nullptr;
  s.run = std::make_unique<Running>(std::move(q), vocab);
  Running& r = *s.run;
  r.order = admissions++;
  r.history = r.req.prompt;  // q (and so prompt) was moved from
  r.fed = static_cast<int>(keep);
  r.result.n_prompt = static_cast<int>(r.history.size());
  r.result.n_cached = static_cast<int>(keep);
}

void Scheduler::Impl::finish(Slot& s, const std::string& reason, const std::string& error) {
  std::unique_ptr<Running> run = std::move(s.run);
  Running& r = *run;
  const Clock::time_point now = Clock::now();
  r.result.stop_reason = reason;
  r.result.error = error;
  if (!r.has_started) r.result.queue_seconds = seconds(r.submitted, now);
  if (r.has_first_token) r.result.gen_seconds = seconds(r.first_token, now);
  // A client that cancelled wants nothing more; otherwise what was held
  // back (a partial stop string that never completed) is shown.
  if (reason != "cancelled" && reason != "error") {
    try {
      const std::string rest = r.stream.flush();
      if (!rest.empty() || !r.logprobs.empty()) emit(r, rest);
    } catch (...) {
    }
  }
  account(r.result);
  try {
    if (r.req.on_done) r.req.on_done(r.result);
  } catch (...) {
  }
  release(true);
}

void Scheduler::Impl::finish_queued(Queued& q, const std::string& reason, const std::string& error) {
  CompletionResult res;
  res.n_prompt = static_cast<int>(q.req.prompt.size());
  res.stop_reason = reason;
  res.error = error;
  res.queue_seconds = seconds(q.submitted, Clock::now());
  account(res);
  try {
    if (q.req.on_done) q.req.on_done(res);
  } catch (...) {
  }
  release(false);
}

// Counted before on_done runs, so that whoever on_done wakes sees the
// request in stats().
void Scheduler::Impl::account(const CompletionResult& r) {
  std::lock_guard<std::mutex> lk(mu);
  ++st.requests_total;
  st.prompt_tokens_total += static_cast<uint64_t>(r.n_prompt);
  st.cached_tokens_total += static_cast<uint64_t>(r.n_cached);
  st.generated_tokens_total += r.tokens.size();
}

// After on_done has returned: shutdown() waits for this.
void Scheduler::Impl::release(bool held_slot) {
  std::lock_guard<std::mutex> lk(mu);
  if (held_slot) --reserved;
  --outstanding;
  done.notify_all();
}

std::vector<float> Scheduler::Impl::embed_now(const std::vector<int32_t>& tokens) {
  const ModelConfig& c = engine.config();
  const int n = static_cast<int>(tokens.size());
  KVCache cache(engine.model(), n);
  std::vector<float> hidden(static_cast<size_t>(n) * c.n_embd);
  SeqBatch b;
  b.tokens = tokens.data();
  b.n = n;
  b.cache = &cache;
  b.hidden = hidden.data();
  const Clock::time_point t0 = Clock::now();
  engine.model().forward_batch(&b, 1, engine.pool());
  {
    std::lock_guard<std::mutex> lk(mu);
    st.busy_seconds_total += seconds(t0, Clock::now());
  }
  std::vector<double> mean(static_cast<size_t>(c.n_embd), 0.0);
  for (int t = 0; t < n; ++t)
    for (int j = 0; j < c.n_embd; ++j) mean[j] += hidden[static_cast<size_t>(t) * c.n_embd + j];
  double norm = 0;
  for (double& m : mean) {
    m /= n;
    norm += m * m;
  }
  norm = std::sqrt(norm);
  std::vector<float> out(mean.size());
  for (size_t j = 0; j < mean.size(); ++j) out[j] = static_cast<float>(norm > 0 ? mean[j] / norm : 0.0);
  return out;
}

Scheduler::Scheduler(const Engine& engine, const SchedulerOptions& opt) : impl_(std::make_unique<Impl>(engine, opt)) {
  if (opt.n_slots < 1) fail("scheduler: needs at least one slot, got ", opt.n_slots);
  if (opt.n_ctx < 2) fail("scheduler: a slot's context must hold at least 2 positions, got ", opt.n_ctx);
  if (opt.max_queue < 0) fail("scheduler: the queue limit must not be negative, got ", opt.max_queue);
  if (opt.max_step_tokens < 1) fail("scheduler: a step needs at least one token, got ", opt.max_step_tokens);
  const ModelConfig& c = engine.config();
  double per_slot = 0;
  for (int l = 0; l < c.n_layer; ++l) per_slot += 2.0 * opt.n_ctx * c.n_head_kv[l] * c.head_dim * sizeof(float);
  const double phys = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (phys > 0 && per_slot * opt.n_slots > phys)
    fail("scheduler: ", opt.n_slots, " slots of ", opt.n_ctx, " positions need ",
         static_cast<long long>(per_slot * opt.n_slots / (1 << 20)), " MiB of KV cache, more than this machine's ",
         static_cast<long long>(phys / (1 << 20)), " MiB (fewer slots or a smaller context)");
  for (int i = 0; i < opt.n_slots; ++i) impl_->slots.push_back(std::make_unique<Slot>(engine.model(), opt.n_ctx));
  impl_->logits.resize(static_cast<size_t>(opt.n_slots) * c.n_vocab);
  impl_->st.n_slots = opt.n_slots;
  impl_->thread = std::thread([this] { impl_->loop(); });
}

Scheduler::~Scheduler() {
  shutdown(0);
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

Scheduler::Submit Scheduler::submit(CompletionRequest req, std::shared_ptr<RequestHandle>* handle) {
  if (handle) handle->reset();
  const Engine& e = impl_->engine;
  const int nv = e.config().n_vocab;
  e.tokenizer();  // Error when the file has no vocabulary to turn tokens into text
  if (req.prompt.empty()) fail("the prompt is empty (no tokens to start from)");
  if (static_cast<int>(req.prompt.size()) >= impl_->opt.n_ctx)
    fail("the prompt has ", req.prompt.size(), " tokens but a slot's context holds ", impl_->opt.n_ctx,
         " (it must leave room for at least one generated token)");
  for (size_t i = 0; i < req.prompt.size(); ++i)
    if (req.prompt[i] < 0 || req.prompt[i] >= nv)
      fail("prompt token ", i, " has id ", req.prompt[i], ", outside the vocabulary [0, ", nv, ")");
  if (req.n_logprobs < -1 || req.n_logprobs > 20)
    fail("logprobs must be -1 (none) or 0..20, got ", req.n_logprobs);
  const SamplerParams& sp = req.options.sampling;
  for (float v : {sp.temperature, sp.top_p, sp.min_p, sp.repeat_penalty, sp.frequency_penalty, sp.presence_penalty})
    if (!std::isfinite(v)) fail("sampling options must be finite numbers, got ", v);
  if (sp.repeat_penalty <= 0) fail("the repeat penalty must be positive, got ", sp.repeat_penalty);
  std::shared_ptr<const Grammar> grammar = parse_options_grammar(req.options);
  if (grammar) e.grammar_vocab();  // built here, on the caller's thread, rather than between steps

  auto h = std::make_shared<RequestHandle>();
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (!impl_->accepting) return Submit::shutting_down;
    if (static_cast<int>(impl_->queue.size()) >= impl_->opt.max_queue) return Submit::queue_full;
    impl_->queue.push_back(Queued{std::move(req), h, Clock::now(), std::move(grammar)});
    ++impl_->outstanding;
  }
  impl_->wake.notify_all();
  if (handle) *handle = std::move(h);
  return Submit::ok;
}

std::vector<float> Scheduler::embed(const std::vector<int32_t>& tokens) {
  if (tokens.empty()) fail("embedding input is empty (no tokens)");
  if (static_cast<int>(tokens.size()) > impl_->opt.n_ctx)
    fail("embedding input has ", tokens.size(), " tokens but a slot's context holds ", impl_->opt.n_ctx);
  const int nv = impl_->engine.config().n_vocab;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= nv)
      fail("embedding token ", i, " has id ", tokens[i], ", outside the vocabulary [0, ", nv, ")");
  // From a callback the scheduling thread is already between steps.
  if (std::this_thread::get_id() == impl_->thread.get_id()) return impl_->embed_now(tokens);
  EmbedJob job;
  job.tokens = &tokens;
  {
    std::unique_lock<std::mutex> lk(impl_->mu);
    impl_->embeds.push_back(&job);
    impl_->wake.notify_all();
    impl_->done.wait(lk, [&] { return job.done; });
  }
  if (job.error) std::rethrow_exception(job.error);
  return std::move(job.out);
}

void Scheduler::shutdown(double grace_seconds) {
  if (!(grace_seconds > 0)) grace_seconds = 0;
  grace_seconds = std::min(grace_seconds, 1e7);
  std::unique_lock<std::mutex> lk(impl_->mu);
  impl_->accepting = false;
  const auto at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(grace_seconds));
  if (!impl_->has_deadline || at < impl_->deadline) impl_->deadline = at;
  impl_->has_deadline = true;
  impl_->wake.notify_all();
  // A callback cannot wait for its own thread.
  if (std::this_thread::get_id() == impl_->thread.get_id()) return;
  impl_->done.wait(lk, [&] { return impl_->outstanding == 0; });
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  SchedulerStats s = impl_->st;
  s.queue_depth = static_cast<int>(impl_->queue.size());
  s.busy_slots = impl_->reserved;
  return s;
}

int Scheduler::n_ctx() const { return impl_->opt.n_ctx; }
int Scheduler::n_slots() const { return impl_->opt.n_slots; }
const Engine& Scheduler::engine() const { return impl_->engine; }

}  // namespace lineage
