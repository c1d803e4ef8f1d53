#include "chat/jinja_lexer.h"

#include <cstring>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace lineage::chat::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  explicit Lexer(std::string_view src) : s_(src) {
    // keep_trailing_newline is off in Jinja's default environment.
    if (!s_.empty() && s_.back() == '\n') {
      s_.remove_suffix(1);
      if (!s_.empty() && s_.back() == '\r') s_.remove_suffix(1);
    }
  }

  std::vector<Token> run() {
    bool line_start = true;  // the text about to be read begins a line
    while (pos_ < s_.size()) {
      size_t tag = find_tag(pos_);
      std::string text(s_.substr(pos_, tag - pos_));
      int text_line = line_;
      advance_to(tag);
      if (tag >= s_.size()) {
        push_text(std::move(text), text_line);
        break;
      }
      char kind = s_[tag + 1];  // '{', '%' or '#'
      char marker = tag + 2 < s_.size() ? s_[tag + 2] : '\0';
      if (marker == '-') {
        rstrip_all(text);
      } else if (kind != '{' && marker != '+') {
        lstrip_line(text, line_start);
      }
      push_text(std::move(text), text_line);
      size_t body = tag + 2 + ((marker == '-' || marker == '+') ? 1 : 0);
      if (kind == '#') {
        line_start = comment(tag, body);
      } else if (kind == '%' && is_raw(body)) {
        line_start = raw(body);
      } else {
        line_start = tag_tokens(kind, tag, body);
      }
    }
    out_.push_back({Tok::End, "", line_});
    return std::move(out_);
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> out_;

  [[noreturn]] void error(int line, const std::string& what) { fail("line ", line, ": ", what); }

  void advance_to(size_t p) {
    for (; pos_ < p && pos_ < s_.size(); ++pos_)
      if (s_[pos_] == '\n') ++line_;
  }

  size_t find_tag(size_t from) const {
    for (size_t p = s_.find('{', from); p != std::string_view::npos; p = s_.find('{', p + 1)) {
      if (p + 1 < s_.size() && (s_[p + 1] == '{' || s_[p + 1] == '%' || s_[p + 1] == '#')) return p;
    }
    return s_.size();
  }

  void push_text(std::string text, int line) {
    if (!text.empty()) out_.push_back({Tok::Text, std::move(text), line});
  }

  static void rstrip_all(std::string& t) {
    while (!t.empty() && is_space(t.back())) t.pop_back();
  }

  // lstrip_blocks: spaces and tabs between the start of a line and a block
  // or comment tag go away.
  static void lstrip_line(std::string& t, bool line_start) {
    size_t nl = t.rfind('\n');
    size_t from = nl == std::string::npos ? 0 : nl + 1;
    if (nl == std::string::npos && !line_start) return;
    for (size_t k = from; k < t.size(); ++k)
      if (t[k] != ' ' && t[k] != '\t') return;
    t.resize(from);
  }

  // After a tag: "-" eats all following whitespace; trim_blocks eats one
  // newline after a block or comment. Returns whether a newline was eaten,
  // i.e. whether the next text starts a line.
  bool after_tag(bool dash, bool block) {
    if (dash) {
      size_t p = pos_;
      while (p < s_.size() && is_space(s_[p])) ++p;
      advance_to(p);
      return false;
    }
    if (block) {
      if (pos_ < s_.size() && s_[pos_] == '\n') {
        advance_to(pos_ + 1);
        return true;
      }
      if (pos_ + 1 < s_.size() && s_[pos_] == '\r' && s_[pos_ + 1] == '\n') {
        advance_to(pos_ + 2);
        return true;
      }
    }
    return false;
  }

  bool comment(size_t tag, size_t body) {
    int line = line_;
    size_t end = s_.find("#}", body);
    if (end == std::string_view::npos) error(line, "unterminated comment");
    bool dash = end > body && s_[end - 1] == '-';
    advance_to(end + 2);
    return after_tag(dash, true);
  }

  // {% raw %} ... {% endraw %}: the inside is text, tags and all.
  bool is_raw(size_t body) const {
    size_t p = body;
    while (p < s_.size() && is_space(s_[p])) ++p;
    if (s_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < s_.size() && is_space(s_[p])) ++p;
    return s_.compare(p, 2, "%}") == 0 || s_.compare(p, 3, "-%}") == 0;
  }

  bool raw(size_t body) {
    int line = line_;
    size_t close = s_.find("%}", body);
    bool dash = s_[close - 1] == '-';
    advance_to(close + 2);
    if (dash) after_tag(true, false);
    // Find "{%" [-] ws* "endraw" ws* [-] "%}".
    for (size_t p = s_.find("{%", pos_); p != std::string_view::npos; p = s_.find("{%", p + 2)) {
      size_t q = p + 2;
      bool lead_dash = q < s_.size() && s_[q] == '-';
      if (lead_dash) ++q;
      while (q < s_.size() && is_space(s_[q])) ++q;
      if (s_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < s_.size() && is_space(s_[q])) ++q;
      bool end_dash = q < s_.size() && s_[q] == '-';
      if (end_dash) ++q;
      if (s_.compare(q, 2, "%}") != 0) continue;
      std::string text(s_.substr(pos_, p - pos_));
      if (lead_dash) rstrip_all(text);
      push_text(std::move(text), line_);
      advance_to(q + 2);
      return after_tag(end_dash, true);
    }
    error(line, "unterminated raw block (missing {% endraw %})");
  }

  bool tag_tokens(char kind, size_t tag, size_t body) {
    int open_line = line_;
    bool block = kind == '%';
    out_.push_back({block ? Tok::BlockBegin : Tok::VarBegin, block ? "{%" : "{{", line_});
    advance_to(body);
    int depth = 0;  // open braces of dict literals, so "}}" inside one is not the end
    for (;;) {
      while (pos_ < s_.size() && is_space(s_[pos_])) advance_to(pos_ + 1);
      if (pos_ >= s_.size())
        error(open_line, block ? "unterminated block tag (missing '%}')" : "unterminated expression (missing '}}')");
      char c = s_[pos_];
      std::string_view rest = s_.substr(pos_);
      const char* close = block ? "%}" : "}}";
      bool dash_close = c == '-' && rest.size() >= 3 && rest.substr(1, 2) == close;
      if ((rest.substr(0, 2) == close && (block || depth == 0)) || dash_close) {
        out_.push_back({block ? Tok::BlockEnd : Tok::VarEnd, close, line_});
        advance_to(pos_ + (dash_close ? 3 : 2));
        return after_tag(dash_close, block);
      }
      if (c == '\'' || c == '"') {
        string_literal(c);
      } else if (is_digit(c)) {
        number();
      } else if (is_ident_start(c)) {
        size_t p = pos_;
        while (p < s_.size() && (is_ident_start(s_[p]) || is_digit(s_[p]))) ++p;
        out_.push_back({Tok::Name, std::string(s_.substr(pos_, p - pos_)), line_});
        advance_to(p);
      } else {
        static const char* const ops[] = {"**", "//", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ".",
                                          ",",  ":",  "|",  "=",  "+",  "-",  "*", "/", "%", "~", "<", ">"};
        const char* hit = nullptr;
        for (const char* op : ops)
          if (rest.substr(0, std::strlen(op)) == op) {
            hit = op;
            break;
          }
        if (!hit) {
          size_t len = utf8::char_len(s_, pos_);
          error(line_, "unexpected character '" + std::string(s_.substr(pos_, len)) + "' in a tag");
        }
        if (hit[0] == '{' && hit[1] == '\0') ++depth;
        if (hit[0] == '}' && hit[1] == '\0') --depth;
        out_.push_back({Tok::Op, hit, line_});
        advance_to(pos_ + std::strlen(hit));
      }
    }
  }

  void number() {
    size_t p = pos_;
    while (p < s_.size() && (is_digit(s_[p]) || s_[p] == '_')) ++p;
    bool is_float = false;
    if (p + 1 < s_.size() && s_[p] == '.' && is_digit(s_[p + 1])) {
      is_float = true;
      ++p;
      while (p < s_.size() && (is_digit(s_[p]) || s_[p] == '_')) ++p;
    }
    if (p < s_.size() && (s_[p] == 'e' || s_[p] == 'E')) {
      size_t q = p + 1;
      if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
      if (q < s_.size() && is_digit(s_[q])) {
        is_float = true;
        p = q;
        while (p < s_.size() && is_digit(s_[p])) ++p;
      }
    }
    std::string text;
    for (char c : s_.substr(pos_, p - pos_))
      if (c != '_') text += c;
    out_.push_back({is_float ? Tok::Float : Tok::Int, text, line_});
    advance_to(p);
  }

  // Python string literal escapes, which is what Jinja's lexer decodes.
  void string_literal(char quote) {
    int line = line_;
    std::string val;
    size_t p = pos_ + 1;
    for (;;) {
      if (p >= s_.size()) error(line, "unterminated string literal");
      char c = s_[p];
      if (c == quote) break;
      if (c != '\\') {
        val += c;
        ++p;
        continue;
      }
      if (p + 1 >= s_.size()) error(line, "unterminated string literal");
      char e = s_[p + 1];
      p += 2;
      switch (e) {
        case 'n': val += '\n'; break;
        case 't': val += '\t'; break;
        case 'r': val += '\r'; break;
        case 'b': val += '\b'; break;
        case 'f': val += '\f'; break;
        case 'v': val += '\v'; break;
        case 'a': val += '\a'; break;
        case '0': val += '\0'; break;
        case '\\': val += '\\'; break;
        case '\'': val += '\''; break;
        case '"': val += '"'; break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + n > s_.size()) error(line, "truncated \\" + std::string(1, e) + " escape in a string");
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            char h = s_[p + k];
            int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
            if (d < 0) error(line, "bad \\" + std::string(1, e) + " escape in a string");
            cp = cp * 16 + static_cast<uint32_t>(d);
          }
          if (cp > 0x10ffff) error(line, "bad \\" + std::string(1, e) + " escape in a string");
          utf8::append(val, cp);
          p += n;
          break;
        }
        default:  // Python keeps unknown escapes as written
          val += '\\';
          val += e;
      }
    }
    out_.push_back({Tok::String, std::move(val), line});
    advance_to(p + 1);
  }
};

}  // namespace

std::vector<Token> lex(std::string_view source) { return Lexer(source).run(); }

}  // namespace lineage::chat::jinja
