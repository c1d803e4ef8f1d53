// A conversation being held: an optional system message and the turns after
// it, saved and loaded as {"messages":[...]} (the OpenAI message shape), and
// trimmed from the oldest end when it outgrows the model's context.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lineage::chat {

class ChatPrompt;

// s with every byte that is not part of a well-formed UTF-8 character
// replaced by U+FFFD: conversations are JSON, which holds only valid text
// (a model can emit stray bytes, a terminal can send them).
std::string to_valid_utf8(std::string_view s);

class Conversation {
 public:
  // "" removes the system message; text is stored as to_valid_utf8(text).
  void set_system(const std::string& text) { system_ = to_valid_utf8(text); }
  const std::string& system() const { return system_; }

  // content is stored as to_valid_utf8(content).
  void add(const std::string& role, const std::string& content);
  // Removes the last message (no-op when there is none).
  void pop_back();
  // Forgets every turn; the system message stays.
  void clear() { turns_ = nlohmann::ordered_json::array(); }
  size_t size() const { return turns_.size(); }
  const nlohmann::ordered_json& turns() const { return turns_; }

  // The system message (when set) followed by the turns.
  nlohmann::ordered_json messages() const;

  // Drops the oldest turn: the first message after the system message and
  // the replies that follow it, up to the next user message. The last user
  // message is never dropped. Returns how many messages went (0: nothing
  // can go).
  int drop_oldest_turn();

  nlohmann::ordered_json to_json() const;  // {"messages":[...]}
  // Error naming what is wrong when j is not {"messages":[...]} with
  // objects that have a string "role" and a string, array or null
  // "content". A leading system message becomes the system message.
  static Conversation from_json(const nlohmann::ordered_json& j);

  // Written atomically enough for a terminal tool: the whole JSON at once.
  void save(const std::string& path) const;
  static Conversation load(const std::string& path);

 private:
  std::string system_;
  nlohmann::ordered_json turns_ = nlohmann::ordered_json::array();
};

struct FittedPrompt {
  std::vector<int32_t> tokens;
  int dropped = 0;  // messages dropped to make it fit
};

// Renders the conversation with the generation prompt and drops the oldest
// turns while the prompt plus `reserve` tokens for the answer exceeds n_ctx.
// Error when even the newest turn alone leaves no room for one token of
// answer (the older turns are gone by then; the caller decides what to do
// with the message that does not fit).
FittedPrompt fit_to_context(Conversation& conv, const ChatPrompt& prompt, int n_ctx, int reserve);

}  // namespace lineage::chat
