// Continuous batching for many users of one model. The scheduler owns N
// slots, each a sequence with its own KV cache, and one thread that advances
// every busy slot together: each step runs one forward pass over the next
// token of every generating slot plus a slice of any prompt being read, so a
// weight matrix is read once for all of them. Requests join and leave between
// steps. Every kernel reduces in a fixed order per row, so a request's tokens
// are the same whatever else is in the batch.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace lineage {

// The log-probability of one generated token, and optionally the most
// likely alternatives at that position (after penalties, before truncation
// and temperature, as OpenAI reports them).
struct TokenLogprob {
  int32_t token = 0;
  std::string piece;  // the token's bytes (may be part of a UTF-8 character)
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // best first
};

struct CompletionResult {
  std::vector<int32_t> tokens;  // generated ids (an end-of-generation token not included)
  int n_prompt = 0;
  int n_cached = 0;  // prompt tokens whose keys and values were reused, not recomputed
  // "eos", "stop", "length", "context", "cancelled", "shutdown" or "error"
  std::string stop_reason;
  std::string error;  // when stop_reason is "error"
  double queue_seconds = 0;   // from submit() to the first forward pass
  double prompt_seconds = 0;  // reading the prompt (until the first token is sampled)
  double gen_seconds = 0;     // from the first sampled token to the end
};

struct CompletionRequest {
  std::vector<int32_t> prompt;  // not empty; shorter than the slot's context
  GenerateOptions options;      // n_predict, sampling (incl. seed), stop strings, ignore_eos, grammar; n_batch unused
  // -1: no log-probabilities; 0: the chosen token's only; k (<= 20): also the k most likely.
  int n_logprobs = -1;
  // Called on the scheduler's thread, in order, with text that is safe to
  // show (no partial UTF-8 character, no possible stop-string prefix) and the
  // log-probabilities of the tokens generated since the previous call (text
  // may be empty while tokens arrive). Returning false cancels the request:
  // its slot is free for the next step.
  std::function<bool(const std::string& text, const std::vector<TokenLogprob>& logprobs)> on_text;
  // Called exactly once, on the scheduler's thread, when the request ends
  // for any reason (after the last on_text).
  std::function<void(const CompletionResult&)> on_done;
};

// Lets the submitter cancel a request from any thread (a client that hangs
// up): the slot is freed before the next step, and on_done reports
// "cancelled". Cancelling a finished request does nothing.
class RequestHandle {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
  int n_slots = 4;
  int n_ctx = 4096;      // per slot: the KV memory is n_slots x n_ctx
  int max_queue = 256;   // requests waiting for a slot; submit() refuses more
  int max_step_tokens = 512;  // tokens per forward pass (prompt slices share this)
};

struct SchedulerStats {
  uint64_t requests_total = 0;  // finished, for any reason
  uint64_t prompt_tokens_total = 0;
  uint64_t cached_tokens_total = 0;  // prompt tokens served from a slot's cache
  uint64_t generated_tokens_total = 0;
  double busy_seconds_total = 0;  // time spent in forward passes
  int queue_depth = 0;            // waiting for a slot
  int busy_slots = 0;
  int n_slots = 0;
};

class Scheduler {
 public:
  enum class Submit { ok, queue_full, shutting_down };

  // Allocates every slot's cache (Error when that memory is not available)
  // and starts the scheduling thread.
  Scheduler(const Engine& engine, const SchedulerOptions& opt);
  // Cancels what is still queued or running (on_done reports "shutdown") and joins.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. Error (nothing queued, no callback) for an empty
  // prompt, a prompt that does not fit a slot, an id outside the vocabulary
  // or bad options (a grammar that does not parse). When the result is not ok, *handle is left empty and no
  // callback will run.
  Submit submit(CompletionRequest req, std::shared_ptr<RequestHandle>* handle);

  // Mean of the final (normed) hidden states over the tokens, L2-normalized;
  // runs on the scheduling thread between steps and blocks the caller until
  // done. Error for an empty or over-long input.
  std::vector<float> embed(const std::vector<int32_t>& tokens);

  // Stops accepting (submit() answers shutting_down), lets running and
  // queued requests finish for up to grace_seconds, then cancels the rest
  // (on_done reports "shutdown"). Returns when no request is left.
  void shutdown(double grace_seconds);

  SchedulerStats stats() const;
  int n_ctx() const;
  int n_slots() const;
  const Engine& engine() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lineage
