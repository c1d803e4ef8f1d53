// The OpenAI-compatible HTTP front end of `lineage serve`.
//
// Threads: cpp-httplib answers each connection on a worker of a fixed pool;
// the scheduler (runtime/scheduler.h) runs every generation on its own
// thread and hands text back through callbacks. A handler validates the
// request, submits it and then waits: for a whole answer until the
// scheduler reports the end, for a stream in the chunked-content loop,
// which writes each piece as soon as it arrives. A stream therefore holds
// its worker, so the pool has a worker for every slot and every queue
// place, plus a few for the cheap endpoints.
//
// A client that goes away mid-stream is noticed when a write fails (pieces
// arrive every token, and a comment line keeps the connection probed while
// a request waits); its request is then cancelled, which frees the slot
// before the scheduler's next step.
#pragma once
#include <memory>
#include <string>

#include "runtime/engine.h"
#include "runtime/scheduler.h"

namespace lineage::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  std::string api_key;  // empty: no key needed
  std::string model_id;  // the name /v1/models lists and answers carry
  std::string template_source;  // the chat template
  bool template_is_fallback = false;
  int queue = 256;
  size_t max_body = size_t{8} << 20;
  int read_timeout_s = 30;
  int write_timeout_s = 30;
};

class Server {
 public:
  // Error when the chat template does not parse.
  Server(const Engine& engine, Scheduler& scheduler, const ServerOptions& opt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns the port (useful with port 0).
  // Error when the address cannot be bound.
  int bind();
  // Serves until stop(); returns once every open request has finished.
  void run();
  // True once run() accepts connections (until it returns).
  bool running() const;
  // Stops accepting connections (any thread; run() then drains). Has no
  // effect before running() is true.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lineage::server
