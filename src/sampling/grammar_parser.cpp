// GBNF text -> Grammar. A recursive-descent parser over bytes that keeps the
// position of everything it creates, so each error names a line and column.
#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "sampling/grammar.h"
#include "sampling/grammar_build.h"

namespace lineage {

bool CharClass::matches(uint32_t c) const {
  // Classes are short (a handful of ranges), so a scan beats a search.
  bool in = false;
  for (const auto& [lo, hi] : ranges)
    if (c >= lo && c <= hi) {
      in = true;
      break;
    }
  return in != negated;
}

bool CharClass::intersects(uint32_t lo, uint32_t hi) const {
  if (!negated) {
    for (const auto& [a, b] : ranges)
      if (a <= hi && b >= lo) return true;
    return false;
  }
  // Negated: some point of [lo, hi] lies outside every range.
  uint32_t c = lo;
  for (const auto& [a, b] : ranges) {
    if (b < c) continue;
    if (a > c) break;
    if (b >= hi) return false;
    c = b + 1;
  }
  return c <= hi;
}

uint32_t CharClass::smallest() const {
  if (!negated) return ranges.empty() ? UINT32_MAX : ranges.front().first;
  uint32_t c = 0;
  for (const auto& [a, b] : ranges) {
    if (a > c) break;
    if (b >= 0x10FFFF) return UINT32_MAX;
    c = std::max(c, b + 1);
  }
  return c <= 0x10FFFF ? c : UINT32_MAX;
}

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  Parser(std::string_view text, const GrammarLimits& lim) : s_(text), b_(lim, text) {}

  std::shared_ptr<const Grammar> run() {
    if (s_.size() > b_.lim.max_text)
      fail("grammar: the text has ", s_.size(), " bytes, more than the limit of ", b_.lim.max_text);
    for (;;) {
      skip_space(true);
      if (p_ >= s_.size()) break;
      const size_t at = p_;
      std::string name = parse_name();
      if (name.empty()) b_.error_at(at, "expected a rule name, found ", describe(at));
      skip_space(false);
      if (s_.substr(p_, 3) != "::=") b_.error_at(p_, "expected '::=' after the rule name '", name, "'");
      p_ += 3;
      const uint32_t id = b_.rule_id(name, at);
      if (b_.rules[id].defined) b_.error_at(at, "rule '", name, "' is defined twice");
      b_.rules[id].defined = true;
      b_.rules[id].pos = at;
      skip_space(true);
      b_.rules[id].alts = parse_alternates(id, 0);
      skip_space(false);
      if (p_ < s_.size() && s_[p_] != '\n') b_.error_at(p_, "unexpected ", describe(p_));
    }
    return b_.finish();
  }

 private:
  std::string describe(size_t at) const {
    if (at >= s_.size()) return "end of text";
    const char c = s_[at];
    if (c == '\n') return "end of line";
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return "a non-printable byte";
    return std::string("'") + c + "'";
  }

  // Spaces and comments; newlines only where newline_ok (inside parentheses,
  // after '|' or '::='), since at the top level a newline ends the rule.
  void skip_space(bool newline_ok) {
    while (p_ < s_.size()) {
      const char c = s_[p_];
      if (c == ' ' || c == '\t' || c == '\r' || (c == '\n' && newline_ok)) {
        ++p_;
      } else if (c == '#') {
        while (p_ < s_.size() && s_[p_] != '\n') ++p_;
      } else {
        break;
      }
    }
  }

  // A top-level rule may go on over several lines when each one starts with '|'.
  bool continues_with_bar() {
    size_t q = p_;
    while (q < s_.size()) {
      const char c = s_[q];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++q;
      } else if (c == '#') {
        while (q < s_.size() && s_[q] != '\n') ++q;
      } else {
        break;
      }
    }
    if (q < s_.size() && s_[q] == '|') {
      p_ = q;
      return true;
    }
    return false;
  }

  std::string parse_name() {
    const size_t start = p_;
    while (p_ < s_.size() && is_name_char(s_[p_])) ++p_;
    return std::string(s_.substr(start, p_ - start));
  }

  std::vector<std::vector<GrammarElem>> parse_alternates(uint32_t owner, int depth) {
    const bool nested = depth > 0;
    std::vector<std::vector<GrammarElem>> alts;
    for (;;) {
      alts.push_back(parse_sequence(owner, depth));
      skip_space(nested);
      if (p_ < s_.size() && s_[p_] == '|') {
        ++p_;
        skip_space(true);
        continue;
      }
      if (!nested && p_ < s_.size() && s_[p_] == '\n' && continues_with_bar()) {
        ++p_;
        skip_space(true);
        continue;
      }
      return alts;
    }
  }

  std::vector<GrammarElem> parse_sequence(uint32_t owner, int depth) {
    const bool nested = depth > 0;
    std::vector<GrammarElem> seq;
    for (;;) {
      skip_space(nested);
      if (p_ >= s_.size()) break;
      const char c = s_[p_];
      if (c == '|' || c == ')' || c == '\n') break;
      const size_t at = p_;
      std::vector<GrammarElem> prim = parse_primary(owner, depth);
      for (;;) {
        skip_space(nested);
        if (p_ >= s_.size()) break;
        const char op = s_[p_];
        uint32_t lo = 0, hi = 0;
        bool bounded = true;
        if (op == '*') {
          lo = 0, bounded = false;
          ++p_;
        } else if (op == '+') {
          lo = 1, bounded = false;
          ++p_;
        } else if (op == '?') {
          lo = 0, hi = 1;
          ++p_;
        } else if (op == '{') {
          parse_braces(lo, hi, bounded);
        } else {
          break;
        }
        prim = b_.repeat(owner, std::move(prim), lo, hi, bounded, at);
      }
      b_.count_elems(prim.size(), at);
      seq.insert(seq.end(), prim.begin(), prim.end());
    }
    return seq;
  }

  uint32_t parse_count() {
    const size_t at = p_;
    uint64_t v = 0;
    bool any = false;
    while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') {
      v = v * 10 + static_cast<uint64_t>(s_[p_] - '0');
      if (v > b_.lim.max_repeat) b_.error_at(at, "repetition count over the limit of ", b_.lim.max_repeat);
      ++p_;
      any = true;
    }
    if (!any) b_.error_at(at, "expected a number in the repetition, found ", describe(at));
    return static_cast<uint32_t>(v);
  }

  void parse_braces(uint32_t& lo, uint32_t& hi, bool& bounded) {
    const size_t at = p_;
    ++p_;
    skip_space(true);
    lo = parse_count();
    skip_space(true);
    bounded = true;
    hi = lo;
    if (p_ < s_.size() && s_[p_] == ',') {
      ++p_;
      skip_space(true);
      if (p_ < s_.size() && s_[p_] == '}') {
        bounded = false;
      } else {
        hi = parse_count();
        skip_space(true);
      }
    }
    if (p_ >= s_.size() || s_[p_] != '}') b_.error_at(p_, "expected '}' to close the repetition, found ", describe(p_));
    ++p_;
    if (bounded && hi < lo) b_.error_at(at, "repetition {", lo, ",", hi, "} has its maximum below its minimum");
  }

  std::vector<GrammarElem> parse_primary(uint32_t owner, int depth) {
    const size_t at = p_;
    const char c = s_[p_];
    if (c == '"') {
      ++p_;
      std::vector<GrammarElem> out;
      for (;;) {
        if (p_ >= s_.size() || s_[p_] == '\n') b_.error_at(at, "unterminated string literal");
        if (s_[p_] == '"') {
          ++p_;
          break;
        }
        const uint32_t cp = parse_char();
        out.push_back(b_.chars(CharClass{false, {{cp, cp}}}));
      }
      return out;
    }
    if (c == '[') {
      ++p_;
      CharClass cls;
      if (p_ < s_.size() && s_[p_] == '^') {
        cls.negated = true;
        ++p_;
      }
      for (;;) {
        if (p_ >= s_.size() || s_[p_] == '\n') b_.error_at(at, "unterminated character class");
        if (s_[p_] == ']') {
          ++p_;
          break;
        }
        const size_t lo_at = p_;
        const uint32_t lo = parse_char();
        uint32_t hi = lo;
        if (p_ + 1 < s_.size() && s_[p_] == '-' && s_[p_ + 1] != ']') {
          ++p_;
          hi = parse_char();
          if (hi < lo) b_.error_at(lo_at, "character range with its end before its start");
        }
        cls.ranges.emplace_back(lo, hi);
      }
      return {b_.chars(std::move(cls))};
    }
    if (c == '.') {
      ++p_;
      return {b_.chars(CharClass{true, {}})};
    }
    if (c == '(') {
      if (depth + 1 > b_.lim.max_nesting) b_.error_at(at, "parentheses nested deeper than ", b_.lim.max_nesting);
      ++p_;
      skip_space(true);
      const uint32_t id = b_.new_rule(owner, at);
      auto alts = parse_alternates(id, depth + 1);
      skip_space(true);
      if (p_ >= s_.size() || s_[p_] != ')') b_.error_at(p_, "expected ')' to close the group opened at ", b_.where(at),
                                                          ", found ", describe(p_));
      ++p_;
      b_.rules[id].alts = std::move(alts);
      return {GrammarElem{GrammarElem::Rule, id}};
    }
    if (is_name_char(c)) {
      std::string name = parse_name();
      skip_space(false);
      if (s_.substr(p_, 3) == "::=")
        b_.error_at(at, "a new rule '", name, "' starts on the same line as the previous one (rules end at a newline)");
      p_ = at + name.size();
      return {GrammarElem{GrammarElem::Rule, b_.rule_id(name, at)}};
    }
    b_.error_at(at, "unexpected ", describe(at));
  }

  // One character of a literal or class: a UTF-8 sequence or an escape.
  uint32_t parse_char() {
    const size_t at = p_;
    const unsigned char c = static_cast<unsigned char>(s_[p_]);
    if (c == '\\') {
      if (p_ + 1 >= s_.size()) b_.error_at(at, "escape at the end of the text");
      const char e = s_[p_ + 1];
      p_ += 2;
      switch (e) {
        case 'n': return '\n';
        case 't': return '\t';
        case 'r': return '\r';
        case '\\': return '\\';
        case '"': return '"';
        case '[': return '[';
        case ']': return ']';
        case '-': return '-';
        case '^': return '^';
        case '/': return '/';
        case 'x': return parse_hex(2, at);
        case 'u': return parse_hex(4, at);
        case 'U': return parse_hex(8, at);
        default: b_.error_at(at, "unknown escape '\\", e, "'");
      }
    }
    if (c < 0x80) {
      ++p_;
      return c;
    }
    const int len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (len == 0 || (c >= 0xF5)) b_.error_at(at, "invalid UTF-8");
    uint32_t cp = c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      if (p_ + k >= s_.size()) b_.error_at(at, "invalid UTF-8");
      const unsigned char d = static_cast<unsigned char>(s_[p_ + k]);
      if ((d & 0xC0) != 0x80) b_.error_at(at, "invalid UTF-8");
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < (len == 3 ? 0x800u : len == 4 ? 0x10000u : 0x80u) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      b_.error_at(at, "invalid UTF-8");
    p_ += static_cast<size_t>(len);
    return cp;
  }

  uint32_t parse_hex(int digits, size_t at) {
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      const int h = p_ < s_.size() ? hex_value(s_[p_]) : -1;
      if (h < 0) b_.error_at(at, "escape needs ", digits, " hex digits");
      v = v * 16 + static_cast<uint32_t>(h);
      ++p_;
    }
    if (v > 0x10FFFF) b_.error_at(at, "escape names a code point above U+10FFFF");
    return v;
  }

  std::string_view s_;
  size_t p_ = 0;
  GrammarBuilder b_;
};

}  // namespace

std::shared_ptr<const Grammar> parse_grammar(std::string_view text, const GrammarLimits& lim) {
  return Parser(text, lim).run();
}

}  // namespace lineage
