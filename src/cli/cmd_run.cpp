// `lineage run`: generate text from a prompt, streamed to stdout.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "cli/commands.h"
#include "cli/grammar_options.h"
#include "core/text_file.h"
#include "core/error.h"
#include "runtime/engine.h"

namespace lineage::cli {

namespace {

struct RunArgs {
  std::string model, prompt, prompt_file;
  int n_predict = 256;
  int ctx_size = 0;
  int threads = 0;
  LoadOptions load;
  int batch = 512;
  SamplerParams sampling;
  long long seed = -1;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool no_display_prompt = false;
  GrammarArgs grammar;
};

void run(const RunArgs& a) {
  if (!a.prompt.empty() && !a.prompt_file.empty()) fail("give the prompt with -p TEXT or -f FILE, not both");
  std::string prompt = a.prompt_file.empty() ? a.prompt : read_text_file(a.prompt_file, "prompt");
  if (prompt.empty()) fail("the prompt is empty (give it with -p TEXT or -f FILE)");
  const std::string grammar = load_grammar(a.grammar);
  auto engine = Engine::load(a.model, a.threads, a.load);
  const Tokenizer& tok = engine->tokenizer();
  int n_ctx = a.ctx_size > 0 ? a.ctx_size : engine->default_context();
  std::vector<int32_t> ids = tok.encode(prompt, tok.add_bos_default(), true);
  KVCache cache(engine->model(), n_ctx);

  GenerateOptions opt;
  opt.n_predict = a.n_predict;
  opt.n_batch = a.batch;
  opt.sampling = a.sampling;
  opt.sampling.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
  opt.stop = a.stop;
  for (auto& s : engine->default_stop_strings()) opt.stop.push_back(s);
  opt.ignore_eos = a.ignore_eos;
  opt.grammar = grammar;

  if (!a.no_display_prompt) {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
  }
  GenerateResult r = generate(*engine, cache, ids, opt, [](const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  auto rate = [](double n, double s) { return s > 0 ? n / s : 0.0; };
  std::fprintf(stderr,
               "lineage: prompt %d tokens, %.1f tok/s | generated %zu tokens, %.1f tok/s | load %.0f ms | stop: %s\n",
               r.n_prompt, rate(r.n_prompt, r.prompt_seconds), r.tokens.size(),
               rate(static_cast<double>(r.tokens.size()), r.gen_seconds), engine->load_seconds() * 1000.0,
               r.stop_reason.c_str());
}

}  // namespace

void add_run(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* c = app.add_subcommand("run", "generate text from a prompt");
  c->add_option("-m,--model", a->model, "GGUF model file")->required();
  c->add_option("-p,--prompt", a->prompt, "prompt text");
  c->add_option("-f,--file", a->prompt_file, "read the prompt from a file");
  c->add_option("-n,--n-predict", a->n_predict, "tokens to generate (-1: until the context is full)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 24));
  c->add_option("-c,--ctx-size", a->ctx_size, "context length (default: the model's, at most 4096)")
      ->check(CLI::Range(1, 1 << 24));
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  add_device_options(c, a->load);
  c->add_option("-b,--batch-size", a->batch, "prompt tokens per forward pass")->capture_default_str()->check(CLI::Range(1, 65536));
  add_sampling_options(c, a->sampling);
  add_grammar_options(c, a->grammar);
  c->add_option("-s,--seed", a->seed, "random seed (default: random)");
  c->add_option("--stop", a->stop, "stop string (repeatable; the model's own are always used)");
  c->add_flag("--ignore-eos", a->ignore_eos, "keep generating past end-of-generation tokens");
  c->add_flag("--no-display-prompt", a->no_display_prompt, "print only the generated text");
  c->callback([a] { run(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(10, lineage::cli::add_run);
