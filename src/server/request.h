// The OpenAI request bodies the server accepts, parsed and validated by pure
// functions (bytes -> request struct, or the error to answer with), so every
// rule is unit tested and fuzzed without a model or a socket. What needs the
// model (tokenizing, rendering the chat template, the context check) happens
// later, in the handlers.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace lineage::server {

struct RequestLimits {
  int max_messages = 1024;     // messages in one chat request
  int max_tokens = 1 << 20;    // largest max_tokens accepted at all (the slot's context decides the rest)
  int max_stop = 16;           // stop strings
  size_t max_stop_bytes = 256; // bytes in one stop string
  int max_tools = 128;
  int max_inputs = 2048;       // embedding inputs in one request
};

// Sampling and output options shared by both generation endpoints.
struct GenerationParams {
  std::string model;
  int max_tokens = -1;  // -1: not given (generate until the slot's context is full)
  double temperature = 1.0;
  double top_p = 1.0;
  int top_k = 0;          // extension (llama.cpp, vLLM); 0: off
  double min_p = 0.0;     // extension; 0: off
  double repeat_penalty = 1.0;  // extension; 1: off
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // extension (llama.cpp)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // -1: no log-probabilities; else how many alternatives per token (chat:
  // top_logprobs, 0..20; completions: logprobs, 0..5).
  int logprobs = -1;
  // GBNF from response_format (json_object, json_schema); "" for text.
  std::string grammar;
};

enum class ToolChoice { none, auto_, required, named };

struct ChatRequest {
  GenerationParams gen;
  // The messages as the chat template reads them: content parts joined into
  // one string, tool-call arguments parsed from their JSON text.
  nlohmann::ordered_json messages;
  nlohmann::ordered_json tools;  // null or a non-empty array of {"type":"function","function":{...}}
  ToolChoice tool_choice = ToolChoice::auto_;
  std::string tool_name;  // for ToolChoice::named
};

struct CompletionTextRequest {
  GenerationParams gen;
  std::string prompt;            // when !prompt_is_ids
  std::vector<int32_t> prompt_ids;  // when prompt_is_ids (a token-id array)
  bool prompt_is_ids = false;
};

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> texts;  // when !inputs_are_ids
  std::vector<std::vector<int32_t>> ids;
  bool inputs_are_ids = false;
  bool base64 = false;  // encoding_format "base64"
};

std::variant<ChatRequest, ApiError> parse_chat_request(std::string_view body, const RequestLimits& lim);
std::variant<CompletionTextRequest, ApiError> parse_completion_request(std::string_view body,
                                                                       const RequestLimits& lim);
std::variant<EmbeddingRequest, ApiError> parse_embedding_request(std::string_view body, const RequestLimits& lim);

}  // namespace lineage::server
