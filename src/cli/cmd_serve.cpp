// `lineage serve`: an OpenAI-compatible HTTP server (see server/server.h).
//
// SIGTERM or SIGINT stops accepting connections, lets the requests in
// flight finish for up to --grace seconds (then cancels them) and exits 0.
// The signals are blocked in every thread and taken by one watcher thread
// with sigtimedwait, so no handler runs in the middle of the server's code.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

#include "chat/chat_prompt.h"
#include "cli/commands.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/scheduler.h"
#include "server/server.h"

namespace lineage::cli {

namespace {

struct ServeArgs {
  std::string model, host = "127.0.0.1", api_key, template_file, alias;
  int port = 8080;
  int parallel = 4;
  int ctx_size = 0;
  int queue = 256;
  int threads = 0;
  LoadOptions load;
  double grace = 30;
  int timeout = 30;
};

void serve(const ServeArgs& a) {
  // Before any thread exists (loading the model starts the thread pool), so
  // every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  // A client that hangs up makes writes fail; that must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  auto engine = Engine::load(a.model, a.threads, a.load);
  engine->tokenizer();  // Error now when the file has no vocabulary
  chat::TemplateChoice tpl = chat::choose_template(engine->file(), a.template_file);

  SchedulerOptions so;
  so.n_slots = a.parallel;
  so.n_ctx = a.ctx_size > 0 ? a.ctx_size : engine->default_context();
  so.max_queue = a.queue;
  Scheduler sched(*engine, so);

  server::ServerOptions o;
  o.host = a.host;
  o.read_timeout_s = a.timeout;
  o.write_timeout_s = a.timeout;
  o.port = a.port;
  o.api_key = a.api_key;
  o.model_id = a.alias.empty() ? std::filesystem::path(a.model).filename().string() : a.alias;
  o.template_source = tpl.source;
  o.template_is_fallback = tpl.is_fallback;
  o.queue = a.queue;
  server::Server srv(*engine, sched, o);
  const int port = srv.bind();

  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    // A signal that comes before the server listens stays pending until
    // then: stopping a server that has not started would do nothing.
    while (!srv.running() && !finished.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const timespec tick{0, 200'000'000};
    while (!finished.load()) {
      if (sigtimedwait(&sigs, nullptr, &tick) < 0) continue;
      std::fprintf(stderr, "lineage serve: shutting down (open requests get up to %g s to finish)\n", a.grace);
      srv.stop();
      sched.shutdown(a.grace);
      return;
    }
  });

  const bool v6 = a.host.find(':') != std::string::npos;
  std::fprintf(stderr, "lineage serve: %s, %d slots x %d tokens of context, queue %d, template: %s%s\n",
               o.model_id.c_str(), sched.n_slots(), sched.n_ctx(), a.queue, tpl.origin.c_str(),
               a.api_key.empty() ? "" : ", API key required");
  std::printf("lineage serve: listening on http://%s%s%s:%d\n", v6 ? "[" : "", a.host.c_str(), v6 ? "]" : "", port);
  std::fflush(stdout);
  std::fflush(stderr);
  srv.run();
  finished.store(true);
  watcher.join();
  std::fprintf(stderr, "lineage serve: stopped\n");
}

}  // namespace

void add_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* c = app.add_subcommand("serve", "serve an OpenAI-compatible HTTP API");
  c->add_option("-m,--model", a->model, "GGUF model file")->required();
  c->add_option("--host", a->host, "address to listen on (a non-loopback address exposes the server)")
      ->capture_default_str();
  c->add_option("--port", a->port, "port (0: any free port; the one chosen is printed)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  c->add_option("--parallel", a->parallel, "slots: requests generated at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  c->add_option("-c,--ctx-size", a->ctx_size,
                "context per slot, in tokens (default: the model's, at most 4096); the KV cache holds "
                "parallel x ctx-size tokens")
      ->check(CLI::Range(1, 1 << 24));
  c->add_option("--queue", a->queue, "requests that may wait for a slot; more are refused with 503")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  c->add_option("--api-key", a->api_key, "require this key (Authorization: Bearer KEY)")->envname("LINEAGE_API_KEY");
  c->add_option("--chat-template", a->template_file, "Jinja chat template file (default: the model's)");
  c->add_option("--alias", a->alias, "model name to report (default: the file name)");
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  add_device_options(c, a->load);
  c->add_option("--timeout", a->timeout,
                 "seconds a client may stall while sending a request or reading an answer before it is dropped")
      ->check(CLI::Range(1, 3600));
  c->add_option("--grace", a->grace, "seconds open requests get to finish after SIGTERM/SIGINT")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  c->callback([a] { serve(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(17, lineage::cli::add_serve);
