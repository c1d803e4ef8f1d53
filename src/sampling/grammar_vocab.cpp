#include "sampling/grammar_vocab.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace lineage {

namespace {
constexpr size_t kMaxPiece = 4096;  // longer pieces (none in real vocabularies) are never sampled under a grammar
}

GrammarVocab::GrammarVocab(const Tokenizer& tok) {
  const int32_t n = tok.n_vocab();
  kind_.assign(static_cast<size_t>(n), Never);
  pieces_.resize(static_cast<size_t>(n));
  std::vector<int32_t> text_ids;
  for (int32_t id = 0; id < n; ++id) {
    if (tok.is_end_of_generation(id)) {
      kind_[id] = EndOfGeneration;
      end_ids_.push_back(id);
      continue;
    }
    const TokenType t = tok.token_type(id);
    if (t == TokenType::Control || t == TokenType::Unknown || t == TokenType::Unused) continue;
    pieces_[id] = tok.token_to_piece(id);
    if (pieces_[id].empty() || pieces_[id].size() > kMaxPiece) continue;
    kind_[id] = Text;
    text_ids.push_back(id);
  }
  std::sort(text_ids.begin(), text_ids.end(), [&](int32_t a, int32_t b) {
    return pieces_[a] < pieces_[b] || (pieces_[a] == pieces_[b] && a < b);
  });

  // Depth-first layout from the sorted pieces: a piece shares its path with
  // the previous one up to their common prefix; deeper nodes are closed.
  trie_.push_back(TrieNode{0, 0, 0, 0, 0});
  std::vector<uint32_t> path{0};  // open nodes, root first
  const std::string* prev = nullptr;
  for (int32_t id : text_ids) {
    const std::string& p = pieces_[id];
    size_t common = 0;
    if (prev)
      while (common < prev->size() && common < p.size() && (*prev)[common] == p[common]) ++common;
    while (path.size() > common + 1) {
      trie_[path.back()].end = static_cast<uint32_t>(trie_.size());
      path.pop_back();
    }
    for (size_t d = common; d < p.size(); ++d) {
      const uint32_t at = static_cast<uint32_t>(trie_.size());
      trie_.push_back(TrieNode{0, static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(ids_.size()),
                               static_cast<uint16_t>(d + 1), static_cast<uint8_t>(p[d])});
      path.push_back(at);
    }
    TrieNode& leaf = trie_[path.back()];
    if (leaf.tok_begin == leaf.tok_end) leaf.tok_begin = leaf.tok_end = static_cast<uint32_t>(ids_.size());
    ids_.push_back(id);
    leaf.tok_end = static_cast<uint32_t>(ids_.size());
    max_depth_ = std::max(max_depth_, static_cast<int>(p.size()));
    prev = &p;
  }
  while (!path.empty()) {
    trie_[path.back()].end = static_cast<uint32_t>(trie_.size());
    path.pop_back();
  }
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> g, const GrammarVocab& vocab, bool allow_end)
    : m_(std::move(g)), vocab_(vocab), allow_end_(allow_end) {
  by_depth_.resize(static_cast<size_t>(vocab.max_depth()) + 1);
}

bool GrammarConstraint::fits(const GrammarMatcher::State& st) const {
  if (budget_ < 0) return true;
  const uint32_t need = m_.need(st);
  return need == 0 || (budget_ > 1 && need <= static_cast<uint32_t>(budget_ - 1));
}

bool GrammarConstraint::allows(int32_t id) {
  if (id < 0 || id >= vocab_.n_vocab()) return false;
  switch (vocab_.kind(id)) {
    case GrammarVocab::Never:
      return false;
    case GrammarVocab::EndOfGeneration:
      return allow_end_ && m_.accepting();
    case GrammarVocab::Text:
      break;
  }
  const std::string& p = vocab_.piece(id);
  const GrammarMatcher::State* from = &m_.state();
  for (size_t i = 0; i < p.size(); ++i) {
    GrammarMatcher::State& to = i % 2 == 0 ? a_ : b_;
    if (!m_.step(*from, static_cast<uint8_t>(p[i]), to)) return false;
    from = &to;
  }
  return fits(*from);
}

void GrammarConstraint::fill_mask(std::vector<uint8_t>& allowed) {
  allowed.assign(static_cast<size_t>(vocab_.n_vocab()), 0);
  const auto& trie = vocab_.trie();
  const auto& ids = vocab_.trie_ids();
  by_depth_[0] = m_.state();
  for (size_t i = 1; i < trie.size();) {
    const GrammarVocab::TrieNode& node = trie[i];
    GrammarMatcher::State& st = by_depth_[node.depth];
    if (!m_.step(by_depth_[node.depth - 1], node.byte, st)) {
      i = node.end;  // no token below this byte fits
      continue;
    }
    if (node.tok_begin != node.tok_end && fits(st))
      for (uint32_t k = node.tok_begin; k < node.tok_end; ++k) allowed[static_cast<size_t>(ids[k])] = 1;
    ++i;
  }
  if (allow_end_ && m_.accepting())
    for (int32_t id : vocab_.end_ids()) allowed[static_cast<size_t>(id)] = 1;
}

void GrammarConstraint::accept(int32_t id) {
  if (vocab_.kind(id) == GrammarVocab::EndOfGeneration) return;
  if (vocab_.kind(id) != GrammarVocab::Text || !m_.accept(vocab_.piece(id)))
    fail("grammar: token ", id, " does not fit the grammar here");
}

}  // namespace lineage
