// Turns what the scheduler streams (text pieces and token log-probabilities)
// into OpenAI response objects: chat.completion / text_completion for a
// whole answer, chat.completion.chunk / text_completion chunks for a
// stream. Tool calls are recognised here (see tool_calls.h) when the
// request offered tools.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/scheduler.h"
#include "server/tool_calls.h"

namespace lineage {
class Tokenizer;
}

namespace lineage::server {

struct AnswerSetup {
  bool chat = true;
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
  int logprobs = -1;    // as in GenerationParams
  bool tools = false;   // parse tool calls out of the answer
  bool include_usage = false;
  uint64_t id_seed = 0;  // for tool-call ids
};

// OpenAI's finish_reason for a scheduler stop reason.
std::string finish_reason(const std::string& stop_reason, bool tool_calls);

// The log-probability as JSON can carry it (-inf becomes -9999, as OpenAI
// reports impossible tokens).
double json_logprob(float lp);

class Answer {
 public:
  Answer(const AnswerSetup& s, const Tokenizer& tok);

  // A piece of the answer as it streams: the chunk payloads (JSON text,
  // without the "data: " framing) to send now. The first call also yields
  // the opening chunk (the assistant role, for chat).
  std::vector<std::string> stream_piece(const std::string& text, const std::vector<TokenLogprob>& lps);
  // The closing chunks: held text, the finish reason and, when asked for,
  // the usage chunk.
  std::vector<std::string> stream_end(const CompletionResult& r);

  // The whole answer at once.
  void add(const std::string& text, const std::vector<TokenLogprob>& lps);
  nlohmann::ordered_json final_object(const CompletionResult& r);

 private:
  struct Delta {
    std::string content;
    std::vector<ToolCall> calls;
    nlohmann::ordered_json logprobs;  // chat: content entries; completions: the four arrays
  };
  Delta take(const std::string& text, const std::vector<TokenLogprob>& lps, bool at_end);
  nlohmann::ordered_json envelope(bool chunk) const;
  nlohmann::ordered_json chunk_with(nlohmann::ordered_json choice) const;
  nlohmann::ordered_json usage(const CompletionResult& r) const;
  nlohmann::ordered_json calls_json(const std::vector<ToolCall>& calls, bool with_index, int first_index) const;

  AnswerSetup s_;
  const Tokenizer& tok_;
  ToolCallParser parser_;
  bool opened_ = false;
  int n_calls_sent_ = 0;
  size_t text_offset_ = 0;  // completions: bytes of answer text so far (for text_offset)
  // Whole-answer accumulation.
  std::string content_;
  std::vector<ToolCall> calls_;
  nlohmann::ordered_json lp_all_;
};

// JSON text of a value that may hold bytes that are not UTF-8 (replaced).
std::string dump_json(const nlohmann::ordered_json& j);

}  // namespace lineage::server
