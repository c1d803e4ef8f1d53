#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "runtime/engine.h"

namespace lineage {

namespace {

// Evaluates one chunk at a time and keeps the logits of the scored half.
class ChunkRunner {
 public:
  ChunkRunner(const Engine& e, const PerplexityOptions& opt)
      : engine_(e),
        n_ctx_(opt.n_ctx),
        n_batch_(opt.n_batch > 0 && opt.n_batch < opt.n_ctx ? opt.n_batch : opt.n_ctx),
        first_(opt.n_ctx / 2),
        n_vocab_(e.config().n_vocab),
        cache_(e.model(), opt.n_ctx),
        batch_logits_(static_cast<size_t>(n_batch_) * n_vocab_),
        scored_(static_cast<size_t>(n_ctx_ - first_) * n_vocab_) {
    bos_ = -1;
    if (e.has_tokenizer() && e.tokenizer().add_bos_default()) bos_ = e.tokenizer().bos_id();
  }

  int first() const { return first_; }
  int n_vocab() const { return n_vocab_; }
  // Logits at chunk position `pos` (first <= pos < n_ctx).
  const float* logits(int pos) const { return scored_.data() + static_cast<size_t>(pos - first_) * n_vocab_; }

  void run(const int32_t* chunk) {
    std::vector<int32_t> ids(chunk, chunk + n_ctx_);
    if (bos_ >= 0) ids[0] = bos_;
    cache_.clear();
    for (int at = 0; at < n_ctx_; at += n_batch_) {
      const int n = std::min(n_batch_, n_ctx_ - at);
      // Batches wholly before the scored half need no logits but the last.
      const bool all = at + n > first_;
      engine_.model().forward(ids.data() + at, n, at, cache_, batch_logits_.data(), all, engine_.pool());
      if (!all) continue;
      for (int k = std::max(0, first_ - at); k < n; ++k)
        std::copy_n(batch_logits_.data() + static_cast<size_t>(k) * n_vocab_, n_vocab_,
                    scored_.data() + static_cast<size_t>(at + k - first_) * n_vocab_);
    }
  }

 private:
  const Engine& engine_;
  int n_ctx_, n_batch_, first_, n_vocab_;
  int32_t bos_;
  KVCache cache_;
  std::vector<float> batch_logits_;  // [n_batch][n_vocab]
  std::vector<float> scored_;        // [n_ctx - first][n_vocab]
};

// log-softmax of a row in double precision.
void log_softmax(const float* logits, int n, std::vector<double>& out) {
  out.resize(n);
  float mx = logits[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double log_sum = std::log(sum) + mx;
  for (int i = 0; i < n; ++i) out[i] = logits[i] - log_sum;
}

int argmax_of(const std::vector<double>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Running sums of a per-token quantity.
struct Accum {
  double sum = 0, sum2 = 0;
  int64_t n = 0;
  void add(double v) {
    sum += v;
    sum2 += v * v;
    ++n;
  }
  MeanStat stat() const {
    MeanStat s;
    if (n == 0) return s;
    s.mean = sum / n;
    const double var = sum2 / n - s.mean * s.mean;
    s.err = n > 1 && var > 0 ? std::sqrt(var / (n - 1)) : 0;
    return s;
  }
};

void finish_ppl(const Accum& nll, PerplexityResult& r) {
  const MeanStat s = nll.stat();
  r.n_scored = nll.n;
  r.ppl = std::exp(s.mean);
  r.ppl_err = r.ppl * s.err;
}

double percentile(const std::vector<double>& sorted, double pct) {
  if (sorted.empty()) return 0;
  const double at = pct / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (at - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

void check_options(const PerplexityOptions& opt) {
  if (opt.n_ctx < 4) fail("context size ", opt.n_ctx, " is too small for perplexity (at least 4)");
  if (opt.n_batch < 0) fail("batch size must be positive");
}

void check_tokens(const std::vector<int32_t>& tokens, int n_vocab) {
  for (int32_t t : tokens)
    if (t < 0 || t >= n_vocab) fail("token id ", t, " is outside the model's vocabulary of ", n_vocab);
}

}  // namespace

int perplexity_chunks(size_t n_tokens, int n_ctx) {
  if (n_ctx <= 0) fail("context size must be positive");
  const size_t n = n_tokens / static_cast<size_t>(n_ctx);
  if (n < 2)
    fail("the text has ", n_tokens, " tokens; perplexity with a context of ", n_ctx, " needs at least ",
         2 * static_cast<size_t>(n_ctx));
  return static_cast<int>(n);
}

PerplexityResult compute_perplexity(const Engine& engine, const std::vector<int32_t>& tokens,
                                    const PerplexityOptions& opt, const std::function<void(int, double)>& on_chunk) {
  check_options(opt);
  const int n_chunks = perplexity_chunks(tokens.size(), opt.n_ctx);
  check_tokens(tokens, engine.config().n_vocab);
  ChunkRunner runner(engine, opt);
  std::vector<double> lp;
  Accum nll;
  PerplexityResult r;
  for (int c = 0; c < n_chunks; ++c) {
    const int32_t* chunk = tokens.data() + static_cast<size_t>(c) * opt.n_ctx;
    runner.run(chunk);
    for (int pos = runner.first(); pos + 1 < opt.n_ctx; ++pos) {
      log_softmax(runner.logits(pos), runner.n_vocab(), lp);
      nll.add(-lp[chunk[pos + 1]]);
    }
    r.running.push_back(std::exp(nll.sum / nll.n));
    if (on_chunk) on_chunk(c, r.running.back());
  }
  r.n_chunks = n_chunks;
  finish_ppl(nll, r);
  return r;
}

namespace {

// Per-token sums for one model against the base.
struct Divergence {
  Accum nll_m, nll_b, kl, top1, ratio, dp;
  std::vector<double> kls, dps;
  DivergenceResult r;

  void add(const std::vector<double>& lpm, const std::vector<double>& lpb, int32_t tok) {
    nll_m.add(-lpm[tok]);
    nll_b.add(-lpb[tok]);
    ratio.add(lpb[tok] - lpm[tok]);
    double d = 0;
    for (size_t i = 0; i < lpm.size(); ++i) d += std::exp(lpb[i]) * (lpb[i] - lpm[i]);
    d = std::max(d, 0.0);  // rounding can leave a tiny negative sum
    kl.add(d);
    kls.push_back(d);
    top1.add(argmax_of(lpm) == argmax_of(lpb) ? 1.0 : 0.0);
    const double delta = std::exp(lpm[tok]) - std::exp(lpb[tok]);
    dp.add(delta);
    dps.push_back(delta);
  }

  void end_chunk() {
    r.model.running.push_back(std::exp(nll_m.sum / nll_m.n));
    r.base.running.push_back(std::exp(nll_b.sum / nll_b.n));
  }

  DivergenceResult finish(int n_chunks) {
    r.model.n_chunks = r.base.n_chunks = n_chunks;
    finish_ppl(nll_m, r.model);
    finish_ppl(nll_b, r.base);
    r.kl = kl.stat();
    r.top1 = top1.stat();
    r.log_ppl_ratio = ratio.stat();
    r.delta_p = dp.stat();
    r.delta_p_rms = std::sqrt(dp.sum2 / static_cast<double>(dp.n));
    std::sort(kls.begin(), kls.end());
    std::sort(dps.begin(), dps.end());
    r.kl_max = kls.back();
    r.kl_p999 = percentile(kls, 99.9);
    r.kl_p99 = percentile(kls, 99);
    r.kl_median = percentile(kls, 50);
    for (double p : kDeltaPPercentiles) r.delta_p_percentiles.push_back(percentile(dps, p));
    return r;
  }
};

}  // namespace

std::vector<DivergenceResult> compare_to_base(const std::vector<const Engine*>& models, const Engine& base,
                                              const std::vector<int32_t>& tokens, const PerplexityOptions& opt,
                                              const std::function<void(int, double)>& on_chunk) {
  check_options(opt);
  if (models.empty()) fail("no model to compare with the base");
  for (const Engine* m : models)
    if (m->config().n_vocab != base.config().n_vocab)
      fail("a model has ", m->config().n_vocab, " tokens in its vocabulary and the base ", base.config().n_vocab,
           "; they cannot be compared");
  const int n_chunks = perplexity_chunks(tokens.size(), opt.n_ctx);
  check_tokens(tokens, base.config().n_vocab);
  ChunkRunner run_b(base, opt);
  std::vector<std::unique_ptr<ChunkRunner>> runners;
  for (const Engine* m : models) runners.push_back(std::make_unique<ChunkRunner>(*m, opt));
  std::vector<Divergence> div(models.size());
  const int n_vocab = run_b.n_vocab();
  std::vector<double> lpm, lpb;
  for (int c = 0; c < n_chunks; ++c) {
    const int32_t* chunk = tokens.data() + static_cast<size_t>(c) * opt.n_ctx;
    run_b.run(chunk);
    for (size_t k = 0; k < models.size(); ++k) {
      runners[k]->run(chunk);
      for (int pos = run_b.first(); pos + 1 < opt.n_ctx; ++pos) {
        log_softmax(runners[k]->logits(pos), n_vocab, lpm);
        log_softmax(run_b.logits(pos), n_vocab, lpb);
        div[k].add(lpm, lpb, chunk[pos + 1]);
      }
      div[k].end_chunk();
    }
    if (on_chunk) on_chunk(c, div[0].r.model.running.back());
  }
  std::vector<DivergenceResult> out;
  for (auto& d : div) out.push_back(d.finish(n_chunks));
  return out;
}

DivergenceResult compare_to_base(const Engine& model, const Engine& base, const std::vector<int32_t>& tokens,
                                 const PerplexityOptions& opt, const std::function<void(int, double)>& on_chunk) {
  return compare_to_base(std::vector<const Engine*>{&model}, base, tokens, opt, on_chunk).front();
}

}  // namespace lineage
