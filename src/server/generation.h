// One generation request between an HTTP worker and the scheduler thread:
// the scheduler's callbacks append to a Job under its lock, the worker takes
// what arrived and writes it out, as a whole answer or as server-sent events.
#pragma once
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

#include "runtime/scheduler.h"
#include "server/answer.h"
#include "server/api_error.h"
#include "server/metrics.h"

namespace lineage::server {

struct Job {
  std::mutex m;
  std::condition_variable cv;
  std::string text;                // arrived, not yet taken
  std::vector<TokenLogprob> logprobs;
  bool done = false;
  CompletionResult result;
  std::atomic<bool> client_gone{false};
  std::shared_ptr<RequestHandle> handle;

  // The client went away: stop generating for it.
  void abandon() {
    client_gone.store(true);
    if (handle) handle->cancel();
  }
};

// Submits req with callbacks that feed a new Job. On failure, the error to
// answer with (queue full: 503 and *retry_after set).
// Every finish is counted in *finished (shared: the scheduler may outlive the server).
std::shared_ptr<Job> submit_job(Scheduler& sched, CompletionRequest req, std::shared_ptr<RequestCounter> finished,
                                std::optional<ApiError>& error, bool& retry_after);

// Waits for the end and answers with the whole object.
void answer_whole(httplib::Response& res, Job& job, Answer& answer);

// Answers with an event stream that follows the generation.
void answer_stream(httplib::Response& res, std::shared_ptr<Job> job, std::shared_ptr<Answer> answer);

}  // namespace lineage::server
