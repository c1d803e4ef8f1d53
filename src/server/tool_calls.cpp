#include "server/tool_calls.h"

#include <nlohmann/json.hpp>

namespace lineage::server {

namespace {

constexpr std::string_view kPythonTag = "<|python_tag|>";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Index of the '}' closing the object that starts at s[start] ('{'), or npos
// while it is incomplete. Brackets inside strings do not count.
size_t object_end(const std::string& s, size_t start) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = start; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i;
    }
  }
  return std::string::npos;
}

// A call when text is {"name": "...", "parameters": {...}} ("arguments"
// is accepted too; other members are ignored).
bool to_call(const std::string& text, ToolCall& call) {
  const auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) return false;
  nlohmann::ordered_json args = nlohmann::ordered_json::object();
  for (const char* key : {"parameters", "arguments"}) {
    auto a = j.find(key);
    if (a == j.end()) continue;
    if (!a->is_object()) return false;
    args = *a;
    break;
  }
  call.name = name->get<std::string>();
  call.arguments = args.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return true;
}

bool is_prefix_of_tag(std::string_view s) { return s.size() < kPythonTag.size() && kPythonTag.substr(0, s.size()) == s; }

}  // namespace

ToolCallParser::ToolCallParser(uint64_t id_seed) : rng_(id_seed) {}

std::string ToolCallParser::new_id() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng_() % (sizeof kAlphabet - 1)];
  return id;
}

void ToolCallParser::give_up(Update& u) {
  u.content += n_calls_ == 0 ? held_ : held_.substr(pos_);
  held_.clear();
  pos_ = 0;
  mode_ = Mode::content;
}

void ToolCallParser::scan(Update& u, bool at_end) {
  for (;;) {
    size_t i = pos_;
    while (i < held_.size() && (is_space(held_[i]) || (n_calls_ > 0 && held_[i] == ';'))) ++i;
    const std::string_view rest = std::string_view(held_).substr(i);
    if (rest.empty()) {
      // Only whitespace so far: nothing decided yet (at the end: no call
      // follows, so the whitespace is ordinary text when there was no call).
      if (at_end && n_calls_ == 0) give_up(u);
      return;
    }
    if (rest.substr(0, kPythonTag.size()) == kPythonTag) {
      held_.erase(i, kPythonTag.size());
      continue;
    }
    if (is_prefix_of_tag(rest)) {
      if (at_end) give_up(u);
      return;
    }
    if (rest[0] != '{') {
      give_up(u);
      return;
    }
    const size_t end = object_end(held_, i);
    if (end == std::string::npos) {
      if (at_end) give_up(u);
      return;
    }
    ToolCall call;
    if (!to_call(held_.substr(i, end + 1 - i), call)) {
      give_up(u);
      return;
    }
    call.id = new_id();
    u.calls.push_back(std::move(call));
    ++n_calls_;
    pos_ = end + 1;
    mode_ = Mode::calls;
  }
}

ToolCallParser::Update ToolCallParser::push(const std::string& text) {
  Update u;
  if (mode_ == Mode::content) {
    u.content = text;
    return u;
  }
  held_ += text;
  scan(u, false);
  return u;
}

ToolCallParser::Update ToolCallParser::finish() {
  Update u;
  if (mode_ != Mode::content) scan(u, true);
  held_.clear();
  pos_ = 0;
  return u;
}

std::vector<ToolCall> parse_tool_calls(const std::string& answer, std::string* content, uint64_t id_seed) {
  ToolCallParser p(id_seed);
  ToolCallParser::Update a = p.push(answer);
  ToolCallParser::Update b = p.finish();
  for (auto& c : b.calls) a.calls.push_back(std::move(c));
  if (content) *content = a.content + b.content;
  return a.calls;
}

}  // namespace lineage::server
