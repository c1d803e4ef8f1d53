// Tool calls in a model's answer, written the way Llama 3.1 / 3.2 are
// trained to write them: JSON objects {"name": ..., "parameters": {...}}
// (or "arguments"), optionally after <|python_tag|>, several separated by
// ';'. An answer is a tool call only when it starts with one (after
// whitespace); anything else is ordinary text.
//
// The parser takes the answer piece by piece as it streams: text is passed
// through at once until it looks like the start of a call, from then on it
// is held back and each call is reported as soon as its object is complete.
// If the held text turns out not to be a call after all it is released as
// ordinary text, so nothing shown is ever taken back.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace lineage::server {

struct ToolCall {
  std::string id;         // "call_" + 24 random characters
  std::string name;
  std::string arguments;  // JSON text of the arguments object
};

class ToolCallParser {
 public:
  struct Update {
    std::string content;          // text to show now
    std::vector<ToolCall> calls;  // calls completed by this piece
  };

  explicit ToolCallParser(uint64_t id_seed);
  Update push(const std::string& text);
  // At the end of the answer: whatever is still held.
  Update finish();
  int n_calls() const { return n_calls_; }

 private:
  enum class Mode { undecided, content, calls };
  void scan(Update& u, bool at_end);
  void give_up(Update& u);
  std::string new_id();

  Mode mode_ = Mode::undecided;
  std::string held_;
  size_t pos_ = 0;  // in held_: where the next call (or separator) starts
  int n_calls_ = 0;
  std::mt19937_64 rng_;
};

// The whole answer at once: the calls, and in *content the text that is
// not part of them.
std::vector<ToolCall> parse_tool_calls(const std::string& answer, std::string* content, uint64_t id_seed);

}  // namespace lineage::server
