#include "sampling/grammar_build.h"

#include <algorithm>
#include <map>
#include <queue>

namespace lineage {

namespace {
constexpr uint32_t kNever = UINT32_MAX;  // a minimum length that no string reaches

uint32_t add_sat(uint32_t a, uint32_t b) { return a >= kNever - b ? kNever : a + b; }
}  // namespace

std::string GrammarBuilder::where(size_t pos) const {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text_.size(); ++i) {
    if (text_[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

uint32_t GrammarBuilder::rule_id(const std::string& name, size_t pos) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return it->second;
  if (rules.size() >= lim.max_rules) error_at(pos, "more than ", lim.max_rules, " rules");
  const uint32_t id = static_cast<uint32_t>(rules.size());
  rules.push_back(Rule{name, {}, pos, false, false});
  by_name_.emplace(name, id);
  return id;
}

uint32_t GrammarBuilder::new_rule(uint32_t owner, size_t pos) {
  if (rules.size() >= lim.max_rules) error_at(pos, "more than ", lim.max_rules, " rules (repetitions and groups count)");
  const uint32_t id = static_cast<uint32_t>(rules.size());
  rules.push_back(Rule{rules[owner].name + "-" + std::to_string(id), {}, pos, true, true});
  return id;
}

GrammarElem GrammarBuilder::chars(CharClass cls) {
  auto& r = cls.ranges;
  std::sort(r.begin(), r.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (const auto& x : r) {
    if (!merged.empty() && x.first <= merged.back().second + 1)
      merged.back().second = std::max(merged.back().second, x.second);
    else
      merged.push_back(x);
  }
  r = std::move(merged);
  // Literals repeat the same few characters; one class per distinct set
  // keeps a long literal from costing a vector per character.
  for (size_t i = classes_.size() > 64 ? classes_.size() - 64 : 0; i < classes_.size(); ++i)
    if (classes_[i].negated == cls.negated && classes_[i].ranges == cls.ranges)
      return GrammarElem{GrammarElem::Chars, static_cast<uint32_t>(i)};
  classes_.push_back(std::move(cls));
  return GrammarElem{GrammarElem::Chars, static_cast<uint32_t>(classes_.size() - 1)};
}

void GrammarBuilder::count_elems(size_t n, size_t pos) {
  n_elems_ += n;
  if (n_elems_ > lim.max_elems) error_at(pos, "the grammar expands to more than ", lim.max_elems, " elements");
}

std::vector<GrammarElem> GrammarBuilder::repeat(uint32_t owner, std::vector<GrammarElem> x, uint32_t lo, uint32_t hi,
                                                bool bounded, size_t pos) {
  if (x.empty()) return x;  // any number of copies of nothing is nothing
  if (x.size() > 1) {
    const uint32_t w = new_rule(owner, pos);
    count_elems(x.size() + 1, pos);
    rules[w].alts = {std::move(x)};
    x = {GrammarElem{GrammarElem::Rule, w}};
  }
  const GrammarElem e = x[0];
  count_elems(lo, pos);
  std::vector<GrammarElem> out(lo, e);
  if (!bounded) {
    // R ::= e R | (nothing): right recursion, which the matcher runs in constant stack depth.
    const uint32_t r = new_rule(owner, pos);
    count_elems(4, pos);
    rules[r].alts = {{e, GrammarElem{GrammarElem::Rule, r}}, {}};
    out.push_back(GrammarElem{GrammarElem::Rule, r});
  } else if (hi > lo) {
    // (e (e (e)?)?)? for the optional copies, one generated rule each.
    uint32_t prev = kNever;
    for (uint32_t k = lo; k < hi; ++k) {
      const uint32_t o = new_rule(owner, pos);
      count_elems(4, pos);
      std::vector<GrammarElem> alt{e};
      if (prev != kNever) alt.push_back(GrammarElem{GrammarElem::Rule, prev});
      rules[o].alts = {std::move(alt), {}};
      prev = o;
    }
    out.push_back(GrammarElem{GrammarElem::Rule, prev});
  }
  return out;
}

// A top-down matcher expanding A ::= A ... would loop forever, so every
// cycle of rules reachable without consuming a character is refused.
void GrammarBuilder::check_left_recursion(const std::vector<bool>& nullable) const {
  const size_t n = rules.size();
  std::vector<std::vector<uint32_t>> first(n);  // rules each one can start with
  for (size_t r = 0; r < n; ++r)
    for (const auto& alt : rules[r].alts)
      for (const GrammarElem& e : alt) {
        if (e.kind != GrammarElem::Rule) break;
        first[r].push_back(e.arg);
        if (!nullable[e.arg]) break;
      }
  // Iterative depth-first search (grammars may have thousands of rules).
  std::vector<uint8_t> state(n, 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::pair<uint32_t, size_t>> path;
  for (size_t start = 0; start < n; ++start) {
    if (state[start]) continue;
    path.emplace_back(static_cast<uint32_t>(start), 0);
    state[start] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next < first[r].size()) {
        const uint32_t t = first[r][next++];
        if (state[t] == 1) {
          std::string cycle;
          size_t k = 0;
          while (path[k].first != t) ++k;
          for (; k < path.size(); ++k) cycle += "'" + rules[path[k].first].name + "' -> ";
          cycle += "'" + rules[t].name + "'";
          error_at(rules[t].pos, "rule '", rules[t].name, "' is left-recursive (", cycle,
                   "); rewrite it with repetition, and do not repeat something that can match nothing");
        }
        if (state[t] == 0) {
          state[t] = 1;
          path.emplace_back(t, 0);
        }
      } else {
        state[r] = 2;
        path.pop_back();
      }
    }
  }
}

std::shared_ptr<const Grammar> GrammarBuilder::finish() {
  for (const Rule& r : rules)
    if (!r.defined) error_at(r.pos, "undefined rule '", r.name, "'");
  auto root = by_name_.find("root");
  if (root == by_name_.end()) fail("grammar: no rule named 'root' (the rule generation starts from)");

  // The fewest bytes each rule matches, by a shortest-derivation search:
  // a rule's value is final once it is the smallest candidate left, as
  // every element adds a non-negative length.
  const size_t n = rules.size();
  struct AltState {
    uint32_t owner;
    uint32_t sum = 0;
    uint32_t pending = 0;
  };
  std::vector<AltState> alts;
  std::vector<std::vector<uint32_t>> uses(n);  // alternatives referring to each rule, once per reference
  using Cand = std::pair<uint32_t, uint32_t>;  // (length, rule)
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> pq;
  for (size_t r = 0; r < n; ++r)
    for (const auto& alt : rules[r].alts) {
      AltState a{static_cast<uint32_t>(r)};
      const uint32_t ai = static_cast<uint32_t>(alts.size());
      for (const GrammarElem& e : alt) {
        if (e.kind == GrammarElem::Chars) {
          const uint32_t c = classes_[e.arg].smallest();
          a.sum = add_sat(a.sum, c == UINT32_MAX ? kNever : utf8_length(c));
        } else {
          ++a.pending;
          uses[e.arg].push_back(ai);
        }
      }
      alts.push_back(a);
      if (a.pending == 0 && a.sum != kNever) pq.emplace(a.sum, a.owner);
    }
  std::vector<uint32_t> rule_min(n, kNever);
  std::vector<bool> final(n, false);
  while (!pq.empty()) {
    const auto [len, r] = pq.top();
    pq.pop();
    if (final[r]) continue;
    final[r] = true;
    rule_min[r] = len;
    for (uint32_t ai : uses[r]) {
      AltState& a = alts[ai];
      a.sum = add_sat(a.sum, len);
      if (--a.pending == 0 && a.sum != kNever && !final[a.owner]) pq.emplace(a.sum, a.owner);
    }
  }
  for (size_t r = 0; r < n; ++r)
    if (rule_min[r] == kNever)
      error_at(rules[r].pos, "rule '", rules[r].name,
               "' can never finish (each alternative needs the rule itself or a character class that matches nothing)");
  std::vector<bool> nullable(n);
  for (size_t r = 0; r < n; ++r) nullable[r] = rule_min[r] == 0;
  check_left_recursion(nullable);

  auto g = std::make_shared<Grammar>();
  g->classes = std::move(classes_);
  g->root = root->second;
  g->alts.resize(n);
  g->rule_names.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    g->rule_names.push_back(rules[r].name);
    for (const auto& alt : rules[r].alts) {
      g->alts[r].push_back(static_cast<uint32_t>(g->elems.size()));
      g->elems.insert(g->elems.end(), alt.begin(), alt.end());
      g->elems.push_back(GrammarElem{GrammarElem::End, 0});
    }
  }
  g->min_bytes.assign(g->elems.size(), 0);
  for (size_t i = g->elems.size(); i-- > 0;) {
    const GrammarElem& e = g->elems[i];
    if (e.kind == GrammarElem::End) continue;
    uint32_t own = kNever;
    if (e.kind == GrammarElem::Rule) {
      own = rule_min[e.arg];
    } else {
      const uint32_t c = g->classes[e.arg].smallest();
      if (c != UINT32_MAX) own = utf8_length(c);
    }
    g->min_bytes[i] = add_sat(own, g->min_bytes[i + 1]);
  }
  return g;
}

}  // namespace lineage
