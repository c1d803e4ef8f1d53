// Splits template source into text and the tokens inside {{ }}, {% %} tags,
// applying whitespace control as apply_chat_template configures Jinja:
// trim_blocks, lstrip_blocks, "-" markers, one trailing newline dropped.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace lineage::chat::jinja {

enum class Tok {
  Text,        // literal template text (after whitespace control)
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,      // text holds the decoded value
  Int,
  Float,
  Op,          // punctuation and operators: ( ) [ ] { } . , : | = + - * / // % ** ~ == != < <= > >=
  End,
};

struct Token {
  Tok type;
  std::string text;
  int line;
};

// Error "line N: ..." on an unterminated tag, string or comment, or a
// character that cannot start a token.
std::vector<Token> lex(std::string_view source);

}  // namespace lineage::chat::jinja
