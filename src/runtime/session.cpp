#include "runtime/session.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "runtime/text_stream.h"

namespace lineage {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
bool cancelled(const std::atomic<bool>* cancel) { return cancel && cancel->load(std::memory_order_relaxed); }
}  // namespace

Session::Session(const Engine& engine, int n_ctx) : engine_(engine), cache_(engine.model(), n_ctx) {}

void Session::reset() {
  cache_.clear();
  tokens_.clear();
  reused_ = 0;
  answers_ = 0;
}

GenerateResult Session::generate(const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                                 const std::function<void(const std::string&)>& on_text,
                                 const std::atomic<bool>* cancel) {
  const Tokenizer& tok = engine_.tokenizer();
  const Model& model = engine_.model();
  const int n_vocab = engine_.config().n_vocab;
  GenerateResult res;
  res.n_prompt = static_cast<int>(prompt.size());
  if (prompt.empty()) fail("the prompt is empty (no tokens to start from)");
  if (static_cast<int>(prompt.size()) > cache_.n_ctx())
    fail("the prompt has ", prompt.size(), " tokens but the context holds ", cache_.n_ctx(),
         " (raise --ctx-size or shorten the prompt)");

  auto diverge = std::mismatch(tokens_.begin(), tokens_.end(), prompt.begin(), prompt.end());
  size_t keep = static_cast<size_t>(diverge.first - tokens_.begin());
  keep = std::min(keep, prompt.size() - 1);
  cache_.truncate(static_cast<int>(keep));
  tokens_.resize(keep);
  reused_ = static_cast<int>(keep);

  std::vector<float> logits(static_cast<size_t>(n_vocab));
  auto t0 = std::chrono::steady_clock::now();
  const size_t n_batch = static_cast<size_t>(std::max(1, opt.n_batch));
  for (size_t at = keep; at < prompt.size(); at += n_batch) {
    if (cancelled(cancel)) {
      res.stop_reason = "cancelled";
      res.prompt_seconds = seconds_since(t0);
      return res;
    }
    const int n = static_cast<int>(std::min(prompt.size() - at, n_batch));
    model.forward(prompt.data() + at, n, static_cast<int>(at), cache_, logits.data(), false, engine_.pool());
    tokens_.insert(tokens_.end(), prompt.begin() + static_cast<std::ptrdiff_t>(at),
                   prompt.begin() + static_cast<std::ptrdiff_t>(at) + n);
  }
  res.prompt_seconds = seconds_since(t0);

  SamplerParams sp = opt.sampling;
  sp.seed += answers_++;
  Sampler sampler(sp);
  std::vector<int32_t> history = tokens_;
  TextStream stream(opt.stop);
  t0 = std::chrono::steady_clock::now();
  res.stop_reason = "length";
  for (int k = 0; opt.n_predict < 0 || k < opt.n_predict; ++k) {
    if (cancelled(cancel)) {
      res.stop_reason = "cancelled";
      break;
    }
    const int32_t id = sampler.sample(logits.data(), n_vocab, history);
    if (!opt.ignore_eos && tok.is_end_of_generation(id)) {
      res.stop_reason = "eos";
      break;
    }
    res.tokens.push_back(id);
    history.push_back(id);
    std::string text = stream.push(tok.token_to_piece(id));
    if (!text.empty()) on_text(text);
    if (stream.stopped()) {
      res.stop_reason = "stop";
      break;
    }
    if (opt.n_predict >= 0 && k + 1 == opt.n_predict) break;
    const int pos = static_cast<int>(tokens_.size());
    if (pos >= cache_.n_ctx()) {
      res.stop_reason = "context";
      break;
    }
    model.forward(&id, 1, pos, cache_, logits.data(), false, engine_.pool());
    tokens_.push_back(id);
  }
  std::string rest = stream.flush();
  if (!rest.empty()) on_text(rest);
  res.gen_seconds = seconds_since(t0);
  return res;
}

}  // namespace lineage
