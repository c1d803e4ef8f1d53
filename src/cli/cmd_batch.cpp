// `lineage batch`: label or transform a JSONL dataset with a prompt
// template, on the same batched scheduler as `serve` (see batch/batch_runner.h).
//
// Exit status: 0 when every row has an answer in the output; 2 when every
// row is done but some are in the errors file; 130 (SIGINT) or 143
// (SIGTERM) when stopped early, after the rows in flight were dropped
// (run the same command again to finish); 1 for an error that stops the run.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "batch/batch_journal.h"
#include "batch/batch_runner.h"
#include "cli/commands.h"
#include "core/error.h"
#include "runtime/engine.h"

namespace lineage::cli {

namespace {

struct BatchArgs {
  batch::BatchOptions o;
  int threads = 0;
  LoadOptions load;
  long long seed = 0;
};

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::exists(a, ec) && std::filesystem::exists(b, ec) && std::filesystem::equivalent(a, b, ec);
}

void run_batch_command(BatchArgs& a) {
  batch::BatchOptions& o = a.o;
  if (o.errors.empty()) o.errors = batch::beside_output(o.output, ".errors.jsonl");
  if (o.output == o.input || same_file(o.output, o.input)) fail("--output must not be the input file");
  if (o.errors == o.output || o.errors == o.input || same_file(o.errors, o.output) || same_file(o.errors, o.input))
    fail("--errors must be a file of its own (not the input or the output)");
  o.gen.sampling.seed = static_cast<uint64_t>(a.seed);
  const batch::BatchInputs in = batch::read_inputs(o);

  // Before any thread exists (loading the model starts the thread pool), so
  // every thread inherits the mask and only the watcher takes the signals.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::atomic<int> stop_signal{0};
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    const timespec tick{0, 100'000'000};
    while (!finished.load()) {
      const int sig = sigtimedwait(&sigs, nullptr, &tick);
      if (sig > 0 && stop_signal.load() == 0) {
        stop_signal.store(sig);
        // On a terminal the progress bar has no line break yet.
        std::fprintf(stderr, "%sbatch: %s: dropping the rows in flight and stopping\n", isatty(2) ? "\n" : "",
                     sig == SIGINT ? "interrupted" : "terminated");
      }
    }
  });
  struct Join {
    std::atomic<bool>& f;
    std::thread& t;
    ~Join() {
      f.store(true);
      t.join();
    }
  } join{finished, watcher};

  auto engine = Engine::load(o.model, a.threads, a.load);
  engine->tokenizer();  // Error now when the file has no vocabulary
  const batch::BatchSummary s = batch::run_batch(*engine, o, in, stop_signal);

  const size_t errors = s.errors_before + s.errors;
  const auto rate = [&](double n) { return s.seconds > 0 ? n / s.seconds : 0.0; };
  std::fprintf(stderr,
               "batch: %zu rows: %zu answered, %zu errors%s%s, %zu left | this run: %zu rows in %.2f s, %.3f rows/s, "
               "%llu prompt + %llu generated tokens, %.2f generated tok/s\n",
               s.total, s.answered_before + s.answered, errors, errors ? " in " : "", errors ? o.errors.c_str() : "",
               s.left, s.answered + s.errors, s.seconds, rate(static_cast<double>(s.answered + s.errors)),
               static_cast<unsigned long long>(s.prompt_tokens), static_cast<unsigned long long>(s.generated_tokens),
               rate(static_cast<double>(s.generated_tokens)));
  if (const int sig = stop_signal.load(); sig != 0 && s.left > 0) {
    std::fprintf(stderr, "batch: run the same command again to do the %zu rows left\n", s.left);
    throw CLI::RuntimeError(128 + sig);
  }
  if (errors > 0) throw CLI::RuntimeError(2);
}

}  // namespace

void add_batch(CLI::App& app) {
  auto a = std::make_shared<BatchArgs>();
  batch::BatchOptions& o = a->o;
  o.gen.n_predict = 256;
  CLI::App* c = app.add_subcommand(
      "batch",
      "answer every row of a JSONL dataset with a prompt template (resumable; exit 0: all answered, 2: some rows "
      "in the errors file, 130/143: stopped by a signal)");
  c->add_option("-m,--model", o.model, "GGUF model file")->required();
  c->add_option("--input", o.input, "JSONL file, one JSON object per line (its `id`, or the line number, names it)")
      ->required();
  c->add_option("--output", o.output, "JSONL answers, appended as rows finish (an existing file is resumed)")
      ->required();
  c->add_option("--template", o.template_path,
                "Jinja template for the prompt; a row's fields are its variables, and the whole row is `row`")
      ->required();
  c->add_option("--errors", o.errors, "JSONL file for rows that failed (default: OUTPUT with .errors.jsonl)");
  c->add_option("--json-schema", o.schema_path, "JSON Schema file: answers are constrained to it and parsed");
  c->add_flag("--chat", o.chat, "send the rendered text as the user message of the model's chat template");
  c->add_option("--system", o.system, "system message (with --chat)");
  c->add_option("--chat-template", o.chat_template_path, "Jinja chat template file (with --chat; default: the model's)");
  c->add_option("--parallel", o.parallel, "rows generated at once (scheduler slots)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  c->add_option("-n,--n-predict", o.gen.n_predict, "tokens to generate per row (-1: until the context is full)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 24));
  c->add_option("-c,--ctx-size", o.ctx_size, "context per slot (default: the model's, at most 4096)")
      ->check(CLI::Range(2, 1 << 24));
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  add_device_options(c, a->load);
  add_sampling_options(c, o.gen.sampling);
  c->add_option("-s,--seed", a->seed, "base random seed; each row's seed is derived from it and the row's id")
      ->capture_default_str();
  c->add_option("--stop", o.gen.stop, "stop string (repeatable; the model's own are always used)");
  c->add_flag("--ignore-eos", o.gen.ignore_eos, "keep generating past end-of-generation tokens");
  c->callback([a] { run_batch_command(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(18, lineage::cli::add_batch);
