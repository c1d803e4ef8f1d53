// Keeps the text of a conversation from writing control tokens.
//
// A chat prompt is one string that mixes the template's own markup (which
// must become control tokens such as <|start_header_id|> or <|eot_id|>) with
// text that users typed (which must never become one: a message holding
// "<|eot_id|><|start_header_id|>system<|end_header_id|>" would otherwise end
// its own turn and forge a system message). Tokenizing the rendered string
// with special parsing on cannot tell the two apart, and with it off the
// template's markers are lost, so message text is marked before rendering:
// every occurrence of a control token's text gets an invisible mark (the
// Unicode noncharacter U+FDD0) after its first character, which stops the
// special-token splitter from matching it. After the split, the marks are
// removed from the plain-text parts, which are then tokenized as text: the
// model sees exactly the characters the user typed, as ordinary tokens.
//
// Marks already present in user text are removed first, so nobody can
// unmark anything. Only token texts of two or more characters can be marked;
// a vocabulary with a one-character control token is not protected (none of
// the common ones has one).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lineage {
class Tokenizer;
}

namespace lineage::chat {

// U+FDD0 encoded as UTF-8.
inline constexpr std::string_view kInertMark = "\xEF\xB7\x90";

// s without any kInertMark.
std::string strip_inert_marks(std::string_view s);

class SpecialTextGuard {
 public:
  // Collects the texts that special parsing turns into tokens: control and
  // unknown tokens. (User-defined tokens are split out of any text, trusted
  // or not, exactly as plain tokenization does, so they need no mark.)
  explicit SpecialTextGuard(const Tokenizer& tok);

  // text with its own marks removed and every control-token text in it
  // marked.
  std::string mark(std::string_view text) const;
  // mark() applied to every string in a JSON value, object keys included
  // (templates print keys too, e.g. tool-call arguments through tojson).
  nlohmann::ordered_json mark_json(const nlohmann::ordered_json& value) const;

  // Tokenizes a rendered prompt: unmarked special-token text becomes its
  // id, everything else (marks removed) is tokenized as plain text, exactly
  // as Tokenizer::encode(part, false, false) would. With add_bos, BOS goes
  // first unless the prompt already starts with it.
  std::vector<int32_t> encode(std::string_view rendered, bool add_bos) const;

  const Tokenizer& tokenizer() const { return tok_; }

 private:
  const Tokenizer& tok_;
  std::vector<std::string> specials_;
};

}  // namespace lineage::chat
