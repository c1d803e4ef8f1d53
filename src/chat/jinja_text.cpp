#include "chat/jinja_text.h"

#include <algorithm>

#include "chat/jinja_value.h"
#include "tokenizer/utf8.h"

namespace lineage::chat::jinja::text {

bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

namespace {

struct Char {
  size_t pos, len;
  uint32_t cp;
};

std::vector<Char> decode(std::string_view s) {
  std::vector<Char> out;
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8::char_len(s, i);
    out.push_back({i, len, utf8::decode_at(s, i, len)});
    i += len;
  }
  return out;
}

// Letters whose case Python changes are mapped only in ASCII; other letters
// of cased scripts (Latin, Greek, Cyrillic) still count as cased for title().
bool is_cased(uint32_t cp) {
  return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= 0xc0 && cp <= 0x24f && cp != 0xd7 && cp != 0xf7) ||
         (cp >= 0x370 && cp <= 0x52f);
}

}  // namespace

std::string strip(std::string_view s, bool left, bool right, const std::string* chars) {
  auto cs = decode(s);
  std::vector<uint32_t> set;
  if (chars)
    for (const auto& c : decode(*chars)) set.push_back(c.cp);
  auto strip_it = [&](uint32_t cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_space(cp);
  };
  size_t b = 0, e = cs.size();
  if (left)
    while (b < e && strip_it(cs[b].cp)) ++b;
  if (right)
    while (e > b && strip_it(cs[e - 1].cp)) --e;
  if (b == e) return {};
  return std::string(s.substr(cs[b].pos, cs[e - 1].pos + cs[e - 1].len - cs[b].pos));
}

std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    size_t start = 0;
    for (;;) {
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) break;
      size_t hit = s.find(*sep, start);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(start, hit - start));
      start = hit + sep->size();
    }
    out.emplace_back(s.substr(start));
    return out;
  }
  auto cs = decode(s);
  size_t i = 0;
  while (i < cs.size()) {
    while (i < cs.size() && is_space(cs[i].cp)) ++i;
    if (i >= cs.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      out.emplace_back(s.substr(cs[i].pos));
      // Python keeps trailing whitespace in the remainder.
      return out;
    }
    size_t j = i;
    while (j < cs.size() && !is_space(cs[j].cp)) ++j;
    size_t end = j < cs.size() ? cs[j].pos : s.size();
    out.emplace_back(s.substr(cs[i].pos, end - cs[i].pos));
    i = j;
  }
  return out;
}

std::vector<std::string> rsplit(std::string_view s, const std::string* sep, int64_t maxsplit) {
  if (maxsplit < 0) return split(s, sep, maxsplit);
  std::vector<std::string> out;
  if (sep) {
    size_t end = s.size();
    while (static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      size_t hit = s.rfind(*sep, end - sep->size());
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    out.emplace_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
  }
  auto cs = decode(s);
  size_t j = cs.size();
  while (j > 0) {
    while (j > 0 && is_space(cs[j - 1].cp)) --j;
    if (j == 0) break;
    if (static_cast<int64_t>(out.size()) >= maxsplit) {
      out.emplace_back(s.substr(0, cs[j - 1].pos + cs[j - 1].len));
      break;
    }
    size_t i = j;
    while (i > 0 && !is_space(cs[i - 1].cp)) --i;
    size_t end = cs[j - 1].pos + cs[j - 1].len;
    out.emplace_back(s.substr(cs[i].pos, end - cs[i].pos));
    j = i;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` before every character and at the end.
    auto cs = decode(s);
    int64_t done = 0;
    for (const auto& c : cs) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += s.substr(c.pos, c.len);
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(from, start);
    if (hit == std::string_view::npos) break;
    out += s.substr(start, hit - start);
    out += to;
    start = hit + from.size();
    ++done;
  }
  out += s.substr(start);
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  bool prev_cased = false;
  for (const auto& c : decode(s)) {
    std::string_view ch = s.substr(c.pos, c.len);
    if (c.len == 1) out += prev_cased ? lower(ch) : upper(ch);
    else out += ch;
    prev_cased = is_cased(c.cp);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  if (s.empty()) return {};
  size_t len = utf8::char_len(s, 0);
  return upper(s.substr(0, len)) + lower(s.substr(len));
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  auto cs = decode(s);
  size_t start = 0;
  for (size_t k = 0; k < cs.size(); ++k) {
    uint32_t cp = cs[k].cp;
    bool brk = cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || cp == 0x1c || cp == 0x1d || cp == 0x1e ||
               cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!brk) continue;
    size_t line_end = cs[k].pos;
    size_t next = cs[k].pos + cs[k].len;
    if (cp == '\r' && k + 1 < cs.size() && cs[k + 1].cp == '\n') {
      ++k;
      next += 1;
    }
    out.emplace_back(s.substr(start, (keepends ? next : line_end) - start));
    start = next;
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

int64_t find(std::string_view s, std::string_view sub, bool reverse) {
  size_t hit = reverse ? s.rfind(sub) : s.find(sub);
  if (hit == std::string_view::npos) return -1;
  return static_cast<int64_t>(utf8_length(s.substr(0, hit)));
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(utf8_length(s)) + 1;
  int64_t n = 0;
  for (size_t p = s.find(sub); p != std::string_view::npos; p = s.find(sub, p + sub.size())) ++n;
  return n;
}

}  // namespace lineage::chat::jinja::text
