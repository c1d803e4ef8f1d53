#include "server/server.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "chat/chat_prompt.h"
#include "core/error.h"
#include "server/answer.h"
#include "server/generation.h"
#include "server/http_guard.h"
#include "server/metrics.h"
#include "server/request.h"
#include "server/webui.h"

namespace lineage::server {

using ojson = nlohmann::ordered_json;

namespace {

// Workers beyond slots + queue places: health checks, metrics and model
// listings must be answered while every generation worker is busy.
constexpr int kSpareWorkers = 8;

const char* const kPostPaths[] = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/apply-template"};
const char* const kGetPaths[] = {"/v1/models", "/health", "/metrics"};

void set_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump_json(e.to_json()), "application/json");
}

void set_json(httplib::Response& res, const ojson& j) { res.set_content(dump_json(j), "application/json"); }

// The message a status gets when the library (not a handler) refused the
// request, e.g. an oversized body or a malformed request line.
ApiError status_error(int status) {
  switch (status) {
    case 400: return ApiError{400, "malformed HTTP request", "invalid_request_error", "", ""};
    case 404: return ApiError{404, "no such endpoint", "invalid_request_error", "", "not_found"};
    case 413: return ApiError{413, "the request body is too large", "invalid_request_error", "", "request_too_large"};
    case 414: return ApiError{414, "the request URI is too long", "invalid_request_error", "", ""};
    default: return ApiError{status, "request failed", status >= 500 ? "server_error" : "invalid_request_error", "", ""};
  }
}

uint64_t random_u64() {
  static std::mutex m;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(m);
  return rng();
}

std::string random_id(const char* prefix) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = prefix;
  uint64_t a = random_u64(), b = random_u64();
  for (int i = 0; i < 16; ++i) id += kHex[(a >> (i * 4)) & 15];
  for (int i = 0; i < 8; ++i) id += kHex[(b >> (i * 4)) & 15];
  return id;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct Server::Impl {
  const Engine& engine;
  Scheduler& sched;
  ServerOptions opt;
  chat::ChatPrompt prompt;
  bool template_has_tools = false;
  std::vector<std::string> chat_stops;  // stop strings every chat answer uses
  bool loopback = false;
  RequestLimits limits;
  std::shared_ptr<RequestCounter> counter = std::make_shared<RequestCounter>();
  httplib::Server http;

  Impl(const Engine& e, Scheduler& s, const ServerOptions& o)
      : engine(e), sched(s), opt(o), prompt(e.tokenizer(), o.template_source) {
    // A template that never mentions tools would silently drop them.
    template_has_tools = o.template_source.find("tools") != std::string::npos;
    chat_stops = e.default_stop_strings();
    if (o.template_is_fallback)
      for (auto& s2 : chat::fallback_stop_strings()) chat_stops.push_back(s2);
    loopback = is_loopback_bind(o.host);
    setup();
  }

  static std::string endpoint_label(const std::string& path) {
    for (const char* p : kPostPaths)
      if (path == p) return path;
    for (const char* p : kGetPaths)
      if (path == p) return path;
    return "other";
  }

  void setup() {
    const int workers = sched.n_slots() + opt.queue + kSpareWorkers;
    http.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<size_t>(workers)); };
    http.set_payload_max_length(opt.max_body);
    http.set_read_timeout(opt.read_timeout_s, 0);
    http.set_write_timeout(opt.write_timeout_s, 0);
    http.set_tcp_nodelay(true);

    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (loopback && req.has_header("Host") && !is_local_host_header(req.get_header_value("Host"))) {
        set_error(res, ApiError{403, "this server only answers requests addressed to a local host name (Host header)",
                                "invalid_request_error", "", "forbidden_host"});
        return httplib::Server::HandlerResponse::Handled;
      }
      // The chat page asks for the key itself; a browser cannot send it to load the page.
      const bool page = (req.method == "GET" || req.method == "HEAD") && webui_file_for(req.path);
      if (!opt.api_key.empty() && req.path != "/health" && !page) {
        const std::string key = bearer_token(req.get_header_value("Authorization"));
        if (!constant_time_equal(key, opt.api_key)) {
          set_error(res, ApiError{401,
                                  key.empty() ? "an API key is needed (Authorization: Bearer KEY)"
                                              : "incorrect API key provided",
                                  "invalid_request_error", "", "invalid_api_key"});
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
          set_error(res, status_error(res.status));
          return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = std::string("internal error: ") + e.what();
      } catch (...) {
      }
      set_error(res, ApiError{500, what, "server_error", "", ""});
    });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      const std::string ep = endpoint_label(req.path);
      counter->count(ep, res.status);
      std::fprintf(stderr, "lineage serve: %s %s %d\n", req.method.c_str(), ep.c_str(), res.status);
    });

    http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { chat(q, r, false); });
    http.Post("/apply-template", [this](const httplib::Request& q, httplib::Response& r) { chat(q, r, true); });
    http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { complete(q, r); });
    http.Post("/v1/embeddings", [this](const httplib::Request& q, httplib::Response& r) { embed(q, r); });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& r) { models(r); });
    http.Get("/health", [](const httplib::Request&, httplib::Response& r) { set_json(r, ojson{{"status", "ok"}}); });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content(render_metrics(sched.stats(), counter->snapshot(), counter->finishes()), "text/plain; version=0.0.4");
    });
    add_webui_routes(http);
    // Everything else: 405 on a known path with the wrong method, else 404.
    auto fallback = [](const httplib::Request& req, httplib::Response& res) {
      for (const char* p : kPostPaths)
        if (req.path == p) {
          res.set_header("Allow", "POST");
          set_error(res, ApiError{405, req.method + " is not allowed on " + req.path + " (use POST)",
                                  "invalid_request_error", "", "method_not_allowed"});
          return;
        }
      for (const char* p : kGetPaths)
        if (req.path == p) {
          res.set_header("Allow", "GET");
          set_error(res, ApiError{405, req.method + " is not allowed on " + req.path + " (use GET)",
                                  "invalid_request_error", "", "method_not_allowed"});
          return;
        }
      set_error(res, status_error(404));
    };
    http.Get(".*", fallback);
    http.Post(".*", fallback);
    http.Put(".*", fallback);
    http.Patch(".*", fallback);
    http.Delete(".*", fallback);
    http.Options(".*", fallback);
  }

  void models(httplib::Response& res) {
    ojson m{{"id", opt.model_id}, {"object", "model"}, {"created", unix_now()}, {"owned_by", "lineage"},
            {"meta", ojson{{"n_ctx_slot", sched.n_ctx()}, {"n_slots", sched.n_slots()},
                           {"n_vocab", engine.tokenizer().n_vocab()}}}};
    set_json(res, ojson{{"object", "list"}, {"data", ojson::array({m})}});
  }

  static ApiError context_error(int n_ctx, size_t n_prompt, int max_tokens) {
    std::string msg = "this model's context holds " + std::to_string(n_ctx) + " tokens per slot, but the request needs " +
                      std::to_string(n_prompt) + " tokens of prompt";
    if (max_tokens > 0) msg += " plus " + std::to_string(max_tokens) + " of completion";
    return bad_request(msg + "; shorten the prompt or lower max_tokens", "messages", "context_length_exceeded");
  }

  // Fills the generation options; false (and the error) when the prompt and
  // the answer cannot fit a slot.
  bool options_for(const GenerationParams& g, size_t n_prompt, const std::vector<std::string>& extra_stops,
                   GenerateOptions& o, ApiError& err) const {
    const int n_ctx = sched.n_ctx();
    if (n_prompt >= static_cast<size_t>(n_ctx) ||
        (g.max_tokens > 0 && n_prompt + static_cast<size_t>(g.max_tokens) > static_cast<size_t>(n_ctx))) {
      err = context_error(n_ctx, n_prompt, g.max_tokens);
      return false;
    }
    o.n_predict = g.max_tokens > 0 ? g.max_tokens : n_ctx - static_cast<int>(n_prompt);
    o.sampling.temperature = static_cast<float>(g.temperature);
    o.sampling.top_p = static_cast<float>(g.top_p);
    o.sampling.top_k = g.top_k;
    o.sampling.min_p = static_cast<float>(g.min_p);
    o.sampling.repeat_penalty = static_cast<float>(g.repeat_penalty);
    o.sampling.presence_penalty = static_cast<float>(g.presence_penalty);
    o.sampling.frequency_penalty = static_cast<float>(g.frequency_penalty);
    o.sampling.seed = g.seed ? *g.seed : random_u64();
    o.stop = g.stop;
    for (const auto& s : extra_stops) o.stop.push_back(s);
    o.ignore_eos = g.ignore_eos;
    o.grammar = g.grammar;
    return true;
  }

  void generate(httplib::Response& res, const GenerationParams& g, std::vector<int32_t> prompt_ids,
                const std::vector<std::string>& extra_stops, bool chat_mode, bool tools) {
    CompletionRequest creq;
    ApiError err;
    if (!options_for(g, prompt_ids.size(), extra_stops, creq.options, err)) return set_error(res, err);
    creq.prompt = std::move(prompt_ids);
    creq.n_logprobs = g.logprobs;
    std::optional<ApiError> submit_error;
    bool retry = false;
    std::shared_ptr<Job> job = submit_job(sched, std::move(creq), counter, submit_error, retry);
    if (!job) {
      if (retry) res.set_header("Retry-After", "1");
      return set_error(res, *submit_error);
    }
    AnswerSetup s;
    s.chat = chat_mode;
    s.id = random_id(chat_mode ? "chatcmpl-" : "cmpl-");
    s.created = unix_now();
    s.model = opt.model_id;
    s.logprobs = g.logprobs;
    s.tools = tools;
    s.include_usage = g.include_usage;
    s.id_seed = random_u64();
    auto answer = std::make_shared<Answer>(s, engine.tokenizer());
    if (g.stream) answer_stream(res, job, answer);
    else answer_whole(res, *job, *answer);
  }

  void chat(const httplib::Request& req, httplib::Response& res, bool render_only) {
    auto parsed = parse_chat_request(req.body, limits);
    if (auto* e = std::get_if<ApiError>(&parsed)) return set_error(res, *e);
    ChatRequest& r = std::get<ChatRequest>(parsed);
    ojson tools = nullptr;
    if (!r.tools.is_null() && r.tool_choice != ToolChoice::none) {
      if (!template_has_tools)
        return set_error(res, bad_request("the model's chat template does not support tools", "tools"));
      tools = r.tools;
      if (r.tool_choice == ToolChoice::named) {
        // Offer only the function the client insists on.
        tools = ojson::array();
        for (const auto& t : r.tools)
          if (t["function"]["name"] == r.tool_name) tools.push_back(t);
      }
    }
    std::string rendered;
    std::vector<int32_t> ids;
    try {
      rendered = prompt.render(r.messages, true, tools);
      ids = prompt.encode(rendered);
    } catch (const Error& e) {
      return set_error(res, bad_request(std::string("the chat template cannot render these messages: ") + e.what(),
                                        "messages"));
    }
    if (render_only)
      return set_json(res, ojson{{"prompt", chat::ChatPrompt::plain_text(rendered)}, {"n_tokens", ids.size()}});
    generate(res, r.gen, std::move(ids), chat_stops, true, !tools.is_null());
  }

  void complete(const httplib::Request& req, httplib::Response& res) {
    auto parsed = parse_completion_request(req.body, limits);
    if (auto* e = std::get_if<ApiError>(&parsed)) return set_error(res, *e);
    CompletionTextRequest& r = std::get<CompletionTextRequest>(parsed);
    const Tokenizer& tok = engine.tokenizer();
    std::vector<int32_t> ids;
    if (r.prompt_is_ids) {
      for (int32_t id : r.prompt_ids)
        if (id >= tok.n_vocab())
          return set_error(res, bad_request("token id " + std::to_string(id) + " is outside the vocabulary", "prompt"));
      ids = std::move(r.prompt_ids);
    } else {
      // As `lineage run` reads a prompt: special-token text becomes the token.
      ids = tok.encode(r.prompt, tok.add_bos_default(), true);
    }
    if (ids.empty()) return set_error(res, bad_request("the prompt holds no tokens", "prompt"));
    generate(res, r.gen, std::move(ids), engine.default_stop_strings(), false, false);
  }

  void embed(const httplib::Request& req, httplib::Response& res) {
    auto parsed = parse_embedding_request(req.body, limits);
    if (auto* e = std::get_if<ApiError>(&parsed)) return set_error(res, *e);
    EmbeddingRequest& r = std::get<EmbeddingRequest>(parsed);
    if (r.base64) return set_error(res, bad_request("only encoding_format 'float' is supported", "encoding_format"));
    const Tokenizer& tok = engine.tokenizer();
    std::vector<std::vector<int32_t>> inputs = std::move(r.ids);
    for (const auto& t : r.texts) inputs.push_back(tok.encode(t, tok.add_bos_default(), false));
    ojson data = ojson::array();
    int64_t n_tokens = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& ids = inputs[i];
      if (ids.empty()) return set_error(res, bad_request("input " + std::to_string(i) + " holds no tokens", "input"));
      for (int32_t id : ids)
        if (id >= tok.n_vocab())
          return set_error(res, bad_request("token id " + std::to_string(id) + " is outside the vocabulary", "input"));
      if (ids.size() > static_cast<size_t>(sched.n_ctx()))
        return set_error(res, bad_request("input " + std::to_string(i) + " needs " + std::to_string(ids.size()) +
                                              " tokens but a slot's context holds " + std::to_string(sched.n_ctx()),
                                          "input", "context_length_exceeded"));
      std::vector<float> v;
      try {
        v = sched.embed(ids);
      } catch (const Error& e) {
        return set_error(res, ApiError{503, std::string("embedding failed: ") + e.what(), "server_error", "", ""});
      }
      n_tokens += static_cast<int64_t>(ids.size());
      ojson vec = ojson::array();
      for (float x : v) vec.push_back(x);
      data.push_back(ojson{{"object", "embedding"}, {"index", i}, {"embedding", std::move(vec)}});
    }
    set_json(res, ojson{{"object", "list"},
                        {"data", std::move(data)},
                        {"model", opt.model_id},
                        {"usage", ojson{{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}});
  }
};

Server::Server(const Engine& engine, Scheduler& scheduler, const ServerOptions& opt)
    : impl_(std::make_unique<Impl>(engine, scheduler, opt)) {}

Server::~Server() = default;

int Server::bind() {
  const int port = impl_->opt.port == 0 ? impl_->http.bind_to_any_port(impl_->opt.host)
                                        : (impl_->http.bind_to_port(impl_->opt.host, impl_->opt.port)
                                               ? impl_->opt.port
                                               : -1);
  if (port < 0) fail("cannot listen on ", impl_->opt.host, ":", impl_->opt.port, " (address in use or not available)");
  return port;
}

void Server::run() { impl_->http.listen_after_bind(); }

bool Server::running() const { return impl_->http.is_running(); }

void Server::stop() { impl_->http.stop(); }

}  // namespace lineage::server
