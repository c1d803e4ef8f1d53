// `lineage chat`: a conversation with a model in the terminal. The whole
// conversation is re-rendered through the chat template every turn and the
// session reuses the cached prefix, so only the new part is computed.
//
// Ctrl-C while an answer streams stops that answer (what was shown stays in
// the conversation) and returns to the prompt. At the prompt, Ctrl-C drops a
// half-typed multi-line entry; at an empty prompt the first Ctrl-C only says
// how to leave and a second one in a row exits (status 0), as Ctrl-D and
// /bye do.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <random>

#include "chat/chat_conversation.h"
#include "chat/chat_input.h"
#include "chat/chat_prompt.h"
#include "cli/commands.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace lineage::cli {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

struct ChatArgs {
  std::string model, system, template_file;
  int n_predict = -1;
  int ctx_size = 0;
  int threads = 0;
  LoadOptions load;
  int batch = 512;
  SamplerParams sampling;
  long long seed = -1;
  std::vector<std::string> stop;
};

constexpr const char* kHelp =
    "Commands:\n"
    "  /reset         forget the conversation (the system message stays)\n"
    "  /system TEXT   set the system message (/system alone removes it)\n"
    "  /save FILE     write the conversation as JSON {\"messages\": [...]}\n"
    "  /load FILE     replace the conversation with one saved by /save\n"
    "  /help          this text\n"
    "  /bye           leave (so do Ctrl-D and two Ctrl-C in a row)\n"
    "Input: a line ending in \\ continues on the next line; \"\"\" starts and ends\n"
    "a block of several lines. Ctrl-C stops an answer.\n";

void out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

void notice(const std::string& s) {
  std::fprintf(stderr, "%s\n", s.c_str());
  std::fflush(stderr);
}

// Reads lines from a file descriptor while watching for Ctrl-C: poll() wakes
// up regularly, so an interrupt is seen whichever thread the signal hit.
class LineReader {
 public:
  enum Result { kLine, kEnd, kInterrupted };
  explicit LineReader(int fd) : fd_(fd) {}

  Result next(std::string& line) {
    for (;;) {
      if (size_t nl = buf_.find('\n'); nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return kLine;
      }
      if (end_) {
        if (buf_.empty()) return kEnd;
        line.swap(buf_);
        buf_.clear();
        return kLine;
      }
      if (g_interrupted.load()) return kInterrupted;
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, 100);
      if (rc <= 0) continue;  // timeout or EINTR: look at the flag again
      char chunk[4096];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n > 0) buf_.append(chunk, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR) end_ = true;
    }
  }

 private:
  int fd_;
  std::string buf_;
  bool end_ = false;
};

class ChatLoop {
 public:
  ChatLoop(const ChatArgs& a, const Engine& engine, const chat::TemplateChoice& tpl)
      : engine_(engine), prompt_(engine.tokenizer(), tpl.source), session_(engine, n_ctx_for(a, engine)) {
    conv_.set_system(a.system);
    opt_.n_predict = a.n_predict;
    opt_.n_batch = a.batch;
    opt_.sampling = a.sampling;
    opt_.sampling.seed = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
    opt_.stop = a.stop;
    for (auto& s : engine.default_stop_strings()) opt_.stop.push_back(s);
    if (tpl.is_fallback)
      for (auto& s : chat::fallback_stop_strings()) opt_.stop.push_back(s);
    const int n_ctx = session_.n_ctx();
    reserve_ = a.n_predict >= 0 ? std::min(a.n_predict, n_ctx / 2) : n_ctx / 4;
  }

  int n_ctx() const { return session_.n_ctx(); }

  // Returns when the user leaves.
  void run(bool interactive) {
    LineReader reader(STDIN_FILENO);
    chat::InputAssembler input;
    int interrupts = 0;
    std::string line;
    for (;;) {
      if (interactive) out(input.pending() ? "... " : ">>> ");
      LineReader::Result r = reader.next(line);
      if (r == LineReader::kInterrupted) {
        g_interrupted.store(false);
        if (interactive) out("\n");
        if (input.pending()) {
          input.discard();
          interrupts = 0;
          continue;
        }
        if (++interrupts >= 2) return;
        notice("(press Ctrl-C again, Ctrl-D or type /bye to leave)");
        continue;
      }
      if (r == LineReader::kEnd) {
        if (input.pending()) notice("lineage: the unfinished multi-line message was not sent");
        if (interactive) out("\n");
        return;
      }
      interrupts = 0;
      if (!input.feed(line)) continue;
      chat::InputEntry e = input.take();
      if (!e.block && !e.text.empty() && e.text[0] == '/') {
        if (!command(e.text)) return;
        continue;
      }
      if (e.text.find_first_not_of(" \t\r\n") == std::string::npos) continue;
      answer(e.text, interactive);
    }
  }

 private:
  static int n_ctx_for(const ChatArgs& a, const Engine& engine) {
    return a.ctx_size > 0 ? a.ctx_size : engine.default_context();
  }

  // False for /bye.
  bool command(const std::string& text) {
    const size_t space = text.find(' ');
    const std::string name = text.substr(0, space);
    std::string arg = space == std::string::npos ? "" : text.substr(space + 1);
    arg.erase(0, arg.find_first_not_of(' '));
    arg.erase(arg.find_last_not_of(' ') + 1);
    if (name == "/bye") return false;
    try {
      if (name == "/help") {
        out(kHelp);
      } else if (name == "/reset") {
        conv_.clear();
        session_.reset();
        notice("(conversation cleared)");
      } else if (name == "/system") {
        conv_.set_system(arg);
        notice(arg.empty() ? "(system message removed)" : "(system message set)");
      } else if (name == "/save" || name == "/load") {
        if (arg.empty()) fail(name, " needs a file name");
        if (name == "/save") {
          conv_.save(arg);
          notice("(saved " + std::to_string(conv_.messages().size()) + " messages to " + arg + ")");
        } else {
          conv_ = chat::Conversation::load(arg);
          notice("(loaded " + std::to_string(conv_.messages().size()) + " messages from " + arg + ")");
        }
      } else {
        fail("unknown command ", name, " (/help lists the commands)");
      }
    } catch (const Error& err) {
      notice(std::string("error: ") + err.what());
    }
    return true;
  }

  void answer(const std::string& text, bool interactive) {
    conv_.add("user", text);
    chat::FittedPrompt fp;
    try {
      fp = chat::fit_to_context(conv_, prompt_, session_.n_ctx(), reserve_);
    } catch (const Error& err) {
      conv_.pop_back();
      notice(std::string("error: ") + err.what());
      return;
    }
    if (fp.dropped > 0)
      notice("lineage: the conversation outgrew the context of " + std::to_string(session_.n_ctx()) +
             " tokens; dropped the oldest " + std::to_string(fp.dropped) + " message(s)");
    g_interrupted.store(false);
    std::string reply;
    GenerateResult r;
    try {
      r = session_.generate(fp.tokens, opt_, [&](const std::string& s) {
        // Pieces end on character boundaries, so each can be checked alone.
        std::string text = chat::to_valid_utf8(s);
        reply += text;
        out(text);
      }, &g_interrupted);
    } catch (const Error& err) {
      conv_.pop_back();
      notice(std::string("\nerror: ") + err.what());
      return;
    }
    conv_.add("assistant", reply);
    out(interactive ? "\n\n" : "\n");
    if (r.stop_reason == "cancelled") {
      g_interrupted.store(false);
      notice("(answer stopped)");
    } else if (r.stop_reason == "context") {
      notice("lineage: the answer filled the context of " + std::to_string(session_.n_ctx()) +
             " tokens; the oldest turns go when the next message needs room");
    }
  }

  const Engine& engine_;
  chat::ChatPrompt prompt_;
  Session session_;
  chat::Conversation conv_;
  GenerateOptions opt_;
  int reserve_ = 0;
};

void chat_main(const ChatArgs& a) {
  auto engine = Engine::load(a.model, a.threads, a.load);
  chat::TemplateChoice tpl = chat::choose_template(engine->file(), a.template_file);
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  ChatLoop loop(a, *engine, tpl);

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);

  if (interactive) {
    std::string name = engine->file().get_string("general.name").value_or(a.model);
    notice("lineage chat: " + name + ", context " + std::to_string(loop.n_ctx()) +
           " tokens, template: " + tpl.origin + ". /help for commands, Ctrl-D or /bye to leave.");
  } else if (tpl.is_fallback) {
    notice("lineage: the model has no chat template; using the ChatML fallback");
  }
  loop.run(interactive);
  std::fflush(stdout);
}

}  // namespace

void add_chat(CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  CLI::App* c = app.add_subcommand("chat", "talk with a model in the terminal");
  c->add_option("-m,--model", a->model, "GGUF model file")->required();
  c->add_option("--system", a->system, "system message");
  c->add_option("--chat-template", a->template_file, "Jinja chat template file (default: the model's)");
  c->add_option("-n,--n-predict", a->n_predict, "most tokens per answer (-1: until the turn ends or the context is full)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 24));
  c->add_option("-c,--ctx-size", a->ctx_size, "context length (default: the model's, at most 4096)")
      ->check(CLI::Range(1, 1 << 24));
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  add_device_options(c, a->load);
  c->add_option("-b,--batch-size", a->batch, "prompt tokens per forward pass")->capture_default_str()->check(CLI::Range(1, 65536));
  add_sampling_options(c, a->sampling);
  c->add_option("-s,--seed", a->seed, "random seed (default: random)");
  c->add_option("--stop", a->stop, "stop string (repeatable; the model's own are always used)");
  c->callback([a] { chat_main(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(15, lineage::cli::add_chat);
