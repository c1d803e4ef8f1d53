#include "sampling/grammar_matcher.h"

#include <algorithm>

#include "core/error.h"

namespace lineage {

namespace {
// Past these the grammar is too ambiguous (or the output too deeply nested)
// to follow within bounded memory and time per byte.
constexpr size_t kMaxStacks = 4096;
constexpr uint32_t kMaxDepth = 1u << 16;
constexpr size_t kCompactAt = 1u << 20;  // arena nodes before unreachable ones are dropped
constexpr size_t kMemoLimit = 1u << 22;  // stack ids the memo of advance() may hold

uint32_t add_sat(uint32_t a, uint32_t b) {
  return a >= GrammarMatcher::kNever - b ? GrammarMatcher::kNever : a + b;
}

uint32_t min_code_point(uint8_t len) { return len == 2 ? 0x80 : len == 3 ? 0x800 : len == 4 ? 0x10000 : 0; }
}  // namespace

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {
  nodes_.push_back(Node{0, 0, 0, 0});  // the empty stack
  mark_.push_back(0);
  // The start: every alternative of the root rule, expanded.
  std::vector<uint32_t> starts;
  ++stamp_;
  for (uint32_t a : g_->alts[g_->root]) expand(make(a, 0), starts);
  std::sort(starts.begin(), starts.end());
  cur_.stacks = std::move(starts);
}

uint32_t GrammarMatcher::make(uint32_t pos, uint32_t parent) {
  if (pos >= g_->elems.size() || g_->elems[pos].kind == GrammarElem::End) return parent;
  const uint64_t key = (static_cast<uint64_t>(pos) << 32) | parent;
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  const Node& p = nodes_[parent];
  if (p.depth + 1 > kMaxDepth) fail("grammar: the output nests deeper than ", kMaxDepth, " rules");
  const uint32_t id = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back(Node{pos, parent, add_sat(g_->min_bytes[pos], p.min), p.depth + 1});
  mark_.push_back(0);
  index_.emplace(key, id);
  return id;
}

// Replaces rule references at the top of s by the alternatives of the rule,
// until every stack has a character class on top (or is empty).
void GrammarMatcher::expand(uint32_t s, std::vector<uint32_t>& out) {
  work_.clear();
  work_.push_back(s);
  while (!work_.empty()) {
    const uint32_t x = work_.back();
    work_.pop_back();
    if (mark_[x] == stamp_) continue;
    mark_[x] = stamp_;
    if (x == 0) {
      out.push_back(0);
      continue;
    }
    const Node n = nodes_[x];
    const GrammarElem e = g_->elems[n.pos];
    if (e.kind == GrammarElem::Chars) {
      out.push_back(x);
      continue;
    }
    const uint32_t cont = make(n.pos + 1, n.parent);
    for (uint32_t a : g_->alts[e.arg]) work_.push_back(make(a, cont));
  }
  if (out.size() > kMaxStacks)
    fail("grammar: more than ", kMaxStacks, " readings of the output are open at once (the grammar is too ambiguous)");
}

void GrammarMatcher::advance(const std::vector<uint32_t>& in, uint32_t cp, std::vector<uint32_t>& out) {
  out.clear();
  // The mask walk asks the same (stack, code point) questions for every
  // token that shares them; each answer is worked out once.
  for (uint32_t s : in) {
    if (s == 0) continue;
    const uint64_t key = (static_cast<uint64_t>(s) << 21) | cp;
    auto it = memo_.find(key);
    if (it == memo_.end()) {
      const Node n = nodes_[s];
      const uint32_t begin = static_cast<uint32_t>(memo_pool_.size());
      if (g_->classes[g_->elems[n.pos].arg].matches(cp)) {
        ++stamp_;
        scratch_.clear();
        expand(make(n.pos + 1, n.parent), scratch_);
        std::sort(scratch_.begin(), scratch_.end());
        memo_pool_.insert(memo_pool_.end(), scratch_.begin(), scratch_.end());
      }
      it = memo_.emplace(key, std::make_pair(begin, static_cast<uint32_t>(memo_pool_.size()))).first;
    }
    out.insert(out.end(), memo_pool_.begin() + it->second.first, memo_pool_.begin() + it->second.second);
  }
  if (in.size() > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  if (out.size() > kMaxStacks)
    fail("grammar: more than ", kMaxStacks, " readings of the output are open at once (the grammar is too ambiguous)");
  if (memo_pool_.size() > kMemoLimit) {
    memo_.clear();
    memo_pool_.clear();
  }
}

bool GrammarMatcher::some_top_intersects(const std::vector<uint32_t>& stacks, uint32_t lo, uint32_t hi) const {
  for (uint32_t s : stacks)
    if (s != 0 && g_->classes[g_->elems[nodes_[s].pos].arg].intersects(lo, hi)) return true;
  return false;
}

bool GrammarMatcher::step(const State& in, uint8_t b, State& out) {
  if (in.left == 0) {
    if (b < 0x80) {
      out.left = out.len = 0;
      out.cp = 0;
      advance(in.stacks, b, out.stacks);
      return !out.stacks.empty();
    }
    uint8_t len = b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xF0 && b < 0xF5 ? 4 : 0;
    if (len == 0) return false;
    out.len = len;
    out.left = static_cast<uint8_t>(len - 1);
    out.cp = b & (0x7F >> len);
  } else {
    if ((b & 0xC0) != 0x80) return false;
    out.len = in.len;
    out.left = static_cast<uint8_t>(in.left - 1);
    out.cp = (in.cp << 6) | (b & 0x3F);
    if (out.left == 0) {
      const uint32_t cp = out.cp;
      if (cp < min_code_point(out.len) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      out.cp = 0;
      out.len = 0;
      advance(in.stacks, cp, out.stacks);
      return !out.stacks.empty();
    }
  }
  // Part of a character: go on only if some stack could take a code point
  // that starts with these bytes.
  const unsigned shift = 6u * out.left;
  const uint32_t lo = std::max(out.cp << shift, min_code_point(out.len));
  const uint32_t hi = std::min((out.cp << shift) | ((1u << shift) - 1), 0x10FFFFu);
  if (lo > hi || !some_top_intersects(in.stacks, lo, hi)) return false;
  out.stacks = in.stacks;
  return true;
}

uint32_t GrammarMatcher::need(const State& st) const {
  uint32_t best = kNever;
  if (st.left == 0) {
    for (uint32_t s : st.stacks) best = std::min(best, nodes_[s].min);
    return best;
  }
  const unsigned shift = 6u * st.left;
  const uint32_t lo = std::max(st.cp << shift, min_code_point(st.len));
  const uint32_t hi = std::min((st.cp << shift) | ((1u << shift) - 1), 0x10FFFFu);
  for (uint32_t s : st.stacks) {
    if (s == 0) continue;
    const Node& n = nodes_[s];
    if (!g_->classes[g_->elems[n.pos].arg].intersects(lo, hi)) continue;
    best = std::min(best, add_sat(g_->min_bytes[n.pos + 1], nodes_[n.parent].min));
  }
  return add_sat(best, st.left);
}

bool GrammarMatcher::accept(std::string_view bytes) {
  if (bytes.empty()) return true;
  const State* from = &cur_;
  for (size_t i = 0; i < bytes.size(); ++i) {
    State& to = i % 2 == 0 ? tmp_ : tmp2_;
    if (!step(*from, static_cast<uint8_t>(bytes[i]), to)) return false;
    from = &to;
  }
  cur_ = *from;
  if (nodes_.size() > kCompactAt) compact();
  return true;
}

// Rebuilds the arena with only the stacks of the current state: the nodes
// that mask computations created for other tokens are garbage by now.
void GrammarMatcher::compact() {
  std::vector<Node> old = std::move(nodes_);
  nodes_.clear();
  index_.clear();
  memo_.clear();
  memo_pool_.clear();
  mark_.clear();
  nodes_.push_back(Node{0, 0, 0, 0});
  mark_.push_back(0);
  std::unordered_map<uint32_t, uint32_t> moved{{0, 0}};
  std::vector<uint32_t> chain;
  for (uint32_t& s : cur_.stacks) {
    chain.clear();
    uint32_t x = s;
    while (!moved.count(x)) {
      chain.push_back(x);
      x = old[x].parent;
    }
    uint32_t parent = moved[x];
    for (size_t k = chain.size(); k-- > 0;) {
      parent = make(old[chain[k]].pos, parent);
      moved[chain[k]] = parent;
    }
    s = parent;
  }
  std::sort(cur_.stacks.begin(), cur_.stacks.end());
  stamp_ = 0;
}

}  // namespace lineage
