#include "server/generation.h"

#include <chrono>

#include "core/error.h"

namespace lineage::server {

namespace {

// While nothing arrives (a request waiting for a slot, a long prompt), an
// SSE comment is written this often: clients ignore it, and a failed write
// shows that the client has gone.
constexpr auto kProbeInterval = std::chrono::milliseconds(250);

void set_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump_json(e.to_json()), "application/json");
}

}  // namespace

std::shared_ptr<Job> submit_job(Scheduler& sched, CompletionRequest req, std::shared_ptr<RequestCounter> finished,
                                std::optional<ApiError>& error, bool& retry_after) {
  auto job = std::make_shared<Job>();
  req.on_text = [job](const std::string& text, const std::vector<TokenLogprob>& lps) {
    {
      std::lock_guard<std::mutex> lock(job->m);
      job->text += text;
      job->logprobs.insert(job->logprobs.end(), lps.begin(), lps.end());
    }
    job->cv.notify_all();
    return !job->client_gone.load();
  };
  req.on_done = [job, finished](const CompletionResult& r) {
    finished->count_finish(r.stop_reason);
    {
      std::lock_guard<std::mutex> lock(job->m);
      job->result = r;
      job->done = true;
    }
    job->cv.notify_all();
  };
  std::shared_ptr<RequestHandle> handle;
  Scheduler::Submit s;
  try {
    s = sched.submit(std::move(req), &handle);
  } catch (const Error& e) {
    error = bad_request(e.what());
    return nullptr;
  }
  if (s == Scheduler::Submit::queue_full) {
    error = ApiError{503, "the server is busy: every slot and queue place is taken; retry later", "server_error", "",
                     "server_busy"};
    retry_after = true;
    return nullptr;
  }
  if (s == Scheduler::Submit::shutting_down) {
    error = ApiError{503, "the server is shutting down", "server_error", "", "shutting_down"};
    return nullptr;
  }
  job->handle = std::move(handle);
  return job;
}

void answer_whole(httplib::Response& res, Job& job, Answer& answer) {
  std::unique_lock<std::mutex> lock(job.m);
  job.cv.wait(lock, [&] { return job.done; });
  if (job.result.stop_reason == "error") {
    set_error(res, ApiError{500, "generation failed: " + job.result.error, "server_error", "", ""});
    return;
  }
  answer.add(job.text, job.logprobs);
  res.set_content(dump_json(answer.final_object(job.result)), "application/json");
}

void answer_stream(httplib::Response& res, std::shared_ptr<Job> job, std::shared_ptr<Answer> answer) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto provider = [job, answer](size_t, httplib::DataSink& sink) {
    auto send = [&](const std::string& payload) {
      const std::string event = "data: " + payload + "\n\n";
      if (sink.write(event.data(), event.size())) return true;
      job->abandon();
      return false;
    };
    // The whole stream is written in this one call; returning false tells
    // the library the response was cut short.
    for (;;) {
      std::string text;
      std::vector<TokenLogprob> lps;
      bool done = false;
      CompletionResult result;
      {
        std::unique_lock<std::mutex> lock(job->m);
        job->cv.wait_for(lock, kProbeInterval,
                         [&] { return job->done || !job->text.empty() || !job->logprobs.empty(); });
        text.swap(job->text);
        lps.swap(job->logprobs);
        done = job->done;
        if (done) result = job->result;
      }
      if (!text.empty() || !lps.empty() || !done) {
        std::vector<std::string> chunks = answer->stream_piece(text, lps);
        if (chunks.empty() && !done) {
          static const std::string kProbe = ": waiting\n\n";
          if (!sink.write(kProbe.data(), kProbe.size())) {
            job->abandon();
            return false;
          }
        }
        for (const auto& c : chunks)
          if (!send(c)) return false;
      }
      if (!done) continue;
      if (result.stop_reason == "error") {
        ApiError e{500, "generation failed: " + result.error, "server_error", "", ""};
        if (!send(dump_json(e.to_json()))) return false;
      } else {
        for (const auto& c : answer->stream_end(result))
          if (!send(c)) return false;
      }
      static const std::string kDone = "data: [DONE]\n\n";
      if (!sink.write(kDone.data(), kDone.size())) return false;
      sink.done();
      return true;
    }
  };
  // Called when the response is finished with, also when the connection
  // broke before the stream started.
  auto release = [job](bool success) {
    if (!success) job->abandon();
  };
  res.set_chunked_content_provider("text/event-stream", provider, release);
}

}  // namespace lineage::server
