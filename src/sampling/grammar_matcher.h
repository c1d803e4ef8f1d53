// A pushdown matcher for a Grammar over Unicode code points. Its state is a
// set of stacks (one per way the output so far can be read); each stack is a
// chain of positions in the grammar: the element to match next, then where
// each enclosing rule goes on. Stacks are hash-consed into an arena, so a
// push is one lookup, equal stacks are one id and a set of stacks is a
// sorted vector of ids. Bytes arrive one at a time; a code point's UTF-8
// bytes are collected (and checked against what the stacks could take)
// until it is whole, so a token may end in the middle of a character.
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sampling/grammar.h"

namespace lineage {

class GrammarMatcher {
 public:
  static constexpr uint32_t kNever = UINT32_MAX;

  struct State {
    std::vector<uint32_t> stacks;  // sorted stack ids; 0 is the empty stack (the output is complete)
    uint32_t cp = 0;               // the code point being assembled
    uint8_t left = 0;              // its continuation bytes still to come
    uint8_t len = 0;               // its whole length in bytes
  };

  explicit GrammarMatcher(std::shared_ptr<const Grammar> g);

  const Grammar& grammar() const { return *g_; }
  const State& state() const { return cur_; }

  // out (not in) = in advanced by one byte; false when the byte cannot continue any
  // reading of the output (out is then unspecified).
  bool step(const State& in, uint8_t byte, State& out);
  // Fewest bytes after st that complete the output (kNever: impossible).
  uint32_t need(const State& st) const;
  static bool accepting(const State& st) { return st.left == 0 && !st.stacks.empty() && st.stacks[0] == 0; }
  // Complete, and nothing can follow.
  static bool finished(const State& st) { return st.left == 0 && st.stacks.size() == 1 && st.stacks[0] == 0; }

  // Advances the current state; false (and no change) when the bytes leave the grammar.
  bool accept(std::string_view bytes);
  bool accepting() const { return accepting(cur_); }
  bool finished() const { return finished(cur_); }
  uint32_t need() const { return need(cur_); }

 private:
  struct Node {
    uint32_t pos;     // index into Grammar::elems: a Chars or Rule element
    uint32_t parent;  // the rest of the stack (0: none)
    uint32_t min;     // fewest bytes that empty this stack
    uint32_t depth;
  };
  uint32_t make(uint32_t pos, uint32_t parent);
  void expand(uint32_t s, std::vector<uint32_t>& out);
  void advance(const std::vector<uint32_t>& in, uint32_t cp, std::vector<uint32_t>& out);
  bool some_top_intersects(const std::vector<uint32_t>& stacks, uint32_t lo, uint32_t hi) const;
  void compact();

  std::shared_ptr<const Grammar> g_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> index_;  // (pos << 32 | parent) -> node
  std::vector<uint32_t> mark_;                     // per node: the advance() that last saw it
  uint32_t stamp_ = 0;
  std::vector<uint32_t> work_, scratch_;
  // (stack << 21 | code point) -> the stacks advance() makes of it: memo_pool_[first, second)
  std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> memo_;
  std::vector<uint32_t> memo_pool_;
  State cur_, tmp_, tmp2_;
};

}  // namespace lineage
