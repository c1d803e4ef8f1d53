#include "chat/chat_special.h"

#include <algorithm>

#include "tokenizer/tokenizer.h"

namespace lineage::chat {

namespace {

// Bytes of the UTF-8 character that starts s (1 for a stray byte).
size_t first_char_bytes(std::string_view s) {
  const auto c = static_cast<unsigned char>(s[0]);
  size_t n = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  return std::min(n, s.size());
}

}  // namespace

std::string strip_inert_marks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t start = 0;
  for (size_t hit = s.find(kInertMark); hit != std::string_view::npos; hit = s.find(kInertMark, start)) {
    out.append(s.substr(start, hit - start));
    start = hit + kInertMark.size();
  }
  out.append(s.substr(start));
  return out;
}

SpecialTextGuard::SpecialTextGuard(const Tokenizer& tok) : tok_(tok) {
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    const TokenType t = tok.token_type(id);
    if (t != TokenType::Control && t != TokenType::Unknown) continue;
    const std::string& text = tok.token_text(id);
    if (text.empty() || first_char_bytes(text) == text.size()) continue;
    specials_.push_back(text);
  }
}

std::string SpecialTextGuard::mark(std::string_view text) const {
  const std::string clean = strip_inert_marks(text);
  // Where marks go: after the first character of every occurrence. Marks
  // add no characters that any token text contains, so once every
  // occurrence is broken no new one can appear.
  std::vector<size_t> cuts;
  for (const std::string& s : specials_) {
    for (size_t hit = clean.find(s); hit != std::string::npos; hit = clean.find(s, hit + 1))
      cuts.push_back(hit + first_char_bytes(s));
  }
  if (cuts.empty()) return clean;
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::string out;
  out.reserve(clean.size() + cuts.size() * kInertMark.size());
  size_t at = 0;
  for (size_t cut : cuts) {
    out.append(clean, at, cut - at);
    out.append(kInertMark);
    at = cut;
  }
  out.append(clean, at, std::string::npos);
  return out;
}

nlohmann::ordered_json SpecialTextGuard::mark_json(const nlohmann::ordered_json& value) const {
  if (value.is_string()) return mark(std::string_view(value.get_ref<const std::string&>()));
  if (value.is_array()) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& item : value) out.push_back(mark_json(item));
    return out;
  }
  if (value.is_object()) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [key, item] : value.items()) out[mark(std::string_view(key))] = mark_json(item);
    return out;
  }
  return value;
}

std::vector<int32_t> SpecialTextGuard::encode(std::string_view rendered, bool add_bos) const {
  std::vector<Fragment> frags;
  tok_.split_special(rendered, true, frags);
  std::vector<int32_t> out;
  const int32_t bos = tok_.bos_id();
  if (add_bos && bos >= 0 && !(!frags.empty() && frags.front().token == bos)) out.push_back(bos);

  // Plain text runs from one control token to the next. User-defined tokens
  // stay inside the run: encode() splits them out again itself, and treats
  // the text after them as it would in any other text.
  std::string run;
  auto flush = [&] {
    std::string text = strip_inert_marks(run);
    run.clear();
    if (text.empty()) return;
    std::vector<int32_t> ids = tok_.encode(text, false, false);
    out.insert(out.end(), ids.begin(), ids.end());
  };
  for (const Fragment& f : frags) {
    if (f.token >= 0 && tok_.token_type(f.token) != TokenType::UserDefined) {
      flush();
      out.push_back(f.token);
    } else {
      run.append(f.text);
    }
  }
  flush();
  return out;
}

}  // namespace lineage::chat
