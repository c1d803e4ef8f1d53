#include "runtime/engine.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "runtime/text_stream.h"

namespace lineage {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

std::unique_ptr<Engine> Engine::load(const std::string& path, int n_threads, const LoadOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Engine> e(new Engine());
  e->file_ = GGUFFile::open(path, true);
  e->model_ = Model::load(e->file_, options);
  if (e->file_->has("tokenizer.ggml.model") || e->file_->has("tokenizer.ggml.tokens")) {
    e->tokenizer_ = Tokenizer::from_gguf(*e->file_);
    // A vocabulary that disagrees with the output layer would fail only
    // mid-generation (a sampled id with no text, or a prompt id the model
    // cannot embed); say so at load time instead.
    if (e->tokenizer_->n_vocab() != e->model_->config().n_vocab)
      fail(path, ": the vocabulary has ", e->tokenizer_->n_vocab(), " tokens but the model's output layer has ",
           e->model_->config().n_vocab);
  }
  e->pool_ = std::make_unique<ThreadPool>(n_threads > 0 ? n_threads : default_thread_count());
  e->load_seconds_ = seconds_since(t0);
  return e;
}

const Tokenizer& Engine::tokenizer() const {
  if (!tokenizer_) fail(file_->path(), ": the file has no vocabulary (tokenizer.ggml.* keys), so it cannot turn text into tokens");
  return *tokenizer_;
}

int Engine::default_context() const {
  int train = config().n_ctx_train;
  return train > 0 ? std::min(train, 4096) : 4096;
}

std::vector<std::string> Engine::default_stop_strings() const {
  const auto* v = file_->get_str_array("lineage.stop_strings");
  return v ? *v : std::vector<std::string>{};
}

const GrammarVocab& Engine::grammar_vocab() const {
  const Tokenizer& tok = tokenizer();
  std::call_once(grammar_vocab_once_, [&] { grammar_vocab_ = std::make_unique<GrammarVocab>(tok); });
  return *grammar_vocab_;
}

std::shared_ptr<const Grammar> parse_options_grammar(const GenerateOptions& opt) {
  if (opt.grammar.empty()) return nullptr;
  return parse_grammar(opt.grammar);
}

GenerateResult generate(const Engine& engine, KVCache& cache, const std::vector<int32_t>& prompt,
                        const GenerateOptions& opt, const std::function<void(const std::string&)>& on_text) {
  const Tokenizer& tok = engine.tokenizer();
  const int n_vocab = engine.config().n_vocab;
  GenerateResult res;
  res.n_prompt = static_cast<int>(prompt.size());
  if (prompt.empty()) fail("the prompt is empty (no tokens to start from)");
  std::unique_ptr<GrammarConstraint> grammar;
  if (auto g = parse_options_grammar(opt))
    grammar = std::make_unique<GrammarConstraint>(std::move(g), engine.grammar_vocab(), !opt.ignore_eos);
  cache.clear();
  int pos = 0;
  if (static_cast<int>(prompt.size()) > cache.n_ctx())
    fail("the prompt has ", prompt.size(), " tokens but the context holds ", cache.n_ctx(),
         " (raise --ctx-size or shorten the prompt)");

  std::vector<float> logits(static_cast<size_t>(n_vocab));
  auto t0 = std::chrono::steady_clock::now();
  int n_batch = std::max(1, opt.n_batch);
  for (size_t at = 0; at < prompt.size(); at += static_cast<size_t>(n_batch)) {
    int n = static_cast<int>(std::min(prompt.size() - at, static_cast<size_t>(n_batch)));
    engine.model().forward(prompt.data() + at, n, pos, cache, logits.data(), false, engine.pool());
    pos += n;
  }
  res.prompt_seconds = seconds_since(t0);

  std::vector<int32_t> history = prompt;
  const auto& eog = tok.end_of_generation_ids();
  Sampler sampler(opt.sampling);
  TextStream stream(opt.stop);
  t0 = std::chrono::steady_clock::now();
  res.stop_reason = "length";
  // The budget rule holds only when a complete output fits at all;
  // otherwise the output is cut at the limit like any other.
  const int limit0 = grammar_token_limit(opt.n_predict, 0, pos, cache.n_ctx());
  const bool budgeted = grammar && limit0 >= 0 && grammar->need() <= static_cast<uint32_t>(limit0);
  for (int k = 0; opt.n_predict < 0 || k < opt.n_predict; ++k) {
    if (grammar && grammar->finished()) {
      res.stop_reason = "eos";
      break;
    }
    if (budgeted) grammar->set_budget(grammar_token_limit(opt.n_predict, k, pos, cache.n_ctx()));
    int32_t id = sampler.sample(logits.data(), n_vocab, history, grammar.get());
    if (!opt.ignore_eos && std::find(eog.begin(), eog.end(), id) != eog.end()) {
      res.stop_reason = "eos";
      break;
    }
    if (grammar) grammar->accept(id);
    res.tokens.push_back(id);
    history.push_back(id);
    std::string text = stream.push(tok.token_to_piece(id));
    if (!text.empty()) on_text(text);
    if (stream.stopped()) {
      res.stop_reason = "stop";
      break;
    }
    if (opt.n_predict >= 0 && k + 1 == opt.n_predict) break;  // no need to compute logits we won't use
    if (grammar && grammar->finished()) {
      res.stop_reason = "eos";
      break;
    }
    if (pos >= cache.n_ctx()) {
      res.stop_reason = "context";
      break;
    }
    engine.model().forward(&id, 1, pos, cache, logits.data(), false, engine.pool());
    ++pos;
  }
  std::string rest = stream.flush();
  if (!rest.empty()) on_text(rest);
  res.gen_seconds = seconds_since(t0);
  return res;
}

}  // namespace lineage
