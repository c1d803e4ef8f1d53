#include "chat/chat_conversation.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_prompt.h"
#include "core/text_file.h"
#include "core/error.h"
#include "tokenizer/utf8.h"

namespace lineage::chat {

using ojson = nlohmann::ordered_json;

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8::char_len(s, i);
    if (n == 1 && static_cast<unsigned char>(s[i]) >= 0x80) out.append("\xEF\xBF\xBD");
    else out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

void Conversation::add(const std::string& role, const std::string& content) {
  turns_.push_back(ojson{{"role", to_valid_utf8(role)}, {"content", to_valid_utf8(content)}});
}

void Conversation::pop_back() {
  if (!turns_.empty()) turns_.erase(turns_.end() - 1);
}

ojson Conversation::messages() const {
  ojson out = ojson::array();
  if (!system_.empty()) out.push_back(ojson{{"role", "system"}, {"content", system_}});
  for (const auto& m : turns_) out.push_back(m);
  return out;
}

int Conversation::drop_oldest_turn() {
  size_t next_user = 0;
  for (size_t i = 1; i < turns_.size(); ++i) {
    if (turns_[i]["role"] == "user") {
      next_user = i;
      break;
    }
  }
  // No later user message: the oldest turn is the newest one, which stays.
  if (next_user == 0) return 0;
  turns_.erase(turns_.begin(), turns_.begin() + static_cast<std::ptrdiff_t>(next_user));
  return static_cast<int>(next_user);
}

ojson Conversation::to_json() const { return ojson{{"messages", messages()}}; }

Conversation Conversation::from_json(const ojson& j) {
  if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array())
    fail("a conversation must be a JSON object {\"messages\": [...]}");
  Conversation c;
  const ojson& msgs = j["messages"];
  for (size_t i = 0; i < msgs.size(); ++i) {
    const ojson& m = msgs[i];
    if (!m.is_object()) fail("messages[", i, "] is not an object");
    if (!m.contains("role") || !m["role"].is_string()) fail("messages[", i, "] has no string \"role\"");
    if (m.contains("content") && !m["content"].is_string() && !m["content"].is_array() && !m["content"].is_null())
      fail("messages[", i, "].content must be a string, an array of parts or null");
    const std::string& role = m["role"].get_ref<const std::string&>();
    if (i == 0 && role == "system" && m.contains("content") && m["content"].is_string()) {
      c.system_ = m["content"].get<std::string>();
      continue;
    }
    c.turns_.push_back(m);
  }
  return c;
}

void Conversation::save(const std::string& path) const {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail(path, ": cannot open the file for writing");
  f << to_json().dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  f.close();
  if (!f) fail(path, ": cannot write the conversation");
}

Conversation Conversation::load(const std::string& path) {
  ojson j = ojson::parse(read_text_file(path, "conversation"), nullptr, false);
  if (j.is_discarded()) fail(path, ": not valid JSON");
  try {
    return from_json(j);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
}

FittedPrompt fit_to_context(Conversation& conv, const ChatPrompt& prompt, int n_ctx, int reserve) {
  FittedPrompt fp;
  for (;;) {
    fp.tokens = prompt.tokens(conv.messages(), true);
    const auto n = static_cast<long long>(fp.tokens.size());
    if (n + reserve <= n_ctx) return fp;
    int dropped = conv.drop_oldest_turn();
    if (dropped == 0) {
      if (n < n_ctx) return fp;  // the answer gets less room than asked, but some
      fail("the message needs ", n, " tokens of prompt but the context holds ", n_ctx,
           " (shorten it or raise --ctx-size)");
    }
    fp.dropped += dropped;
  }
}

}  // namespace lineage::chat
