#include "tokenizer/special.h"

#include <algorithm>

namespace lineage {

SpecialSplitter::SpecialSplitter(const Vocab& vocab) {
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const TokenType t = vocab.type(id);
    const bool user = t == TokenType::UserDefined;
    if (!user && t != TokenType::Control && t != TokenType::Unknown) continue;
    if (vocab.text(id).empty()) continue;
    specials_.push_back({id, vocab.text(id), user});
  }
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });
}

void SpecialSplitter::split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  std::vector<Fragment> frags;
  if (!text.empty()) frags.push_back({-1, text});
  std::vector<Fragment> next;
  for (const Special& s : specials_) {
    if (!s.always && !parse_special) continue;
    // Most specials never occur; one scan of the whole text rules them out.
    if (text.find(s.text) == std::string_view::npos) continue;
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t start = 0;
      for (size_t hit = f.text.find(s.text); hit != std::string_view::npos; hit = f.text.find(s.text, start)) {
        if (hit > start) next.push_back({-1, f.text.substr(start, hit - start)});
        next.push_back({s.id, f.text.substr(hit, s.text.size())});
        start = hit + s.text.size();
      }
      if (start < f.text.size()) next.push_back({-1, f.text.substr(start)});
    }
    frags.swap(next);
  }
  out.insert(out.end(), frags.begin(), frags.end());
}

}  // namespace lineage
