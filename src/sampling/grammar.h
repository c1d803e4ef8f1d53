// Grammars in GBNF (the BNF dialect GGUF engines use for constrained
// generation), parsed into a flat form the matcher walks: every alternative
// of every rule is a run of elements ended by End, so a position in the
// grammar is one index. Repetitions and groups become generated rules, so
// the matcher only ever sees character classes and rule references.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lineage {

struct GrammarElem {
  enum Kind : uint8_t { End, Chars, Rule };
  Kind kind = End;
  uint32_t arg = 0;  // Chars: index into Grammar::classes; Rule: rule index
};

// A set of Unicode code points: sorted, merged inclusive ranges, optionally negated.
struct CharClass {
  bool negated = false;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  bool matches(uint32_t c) const;
  // Whether some code point in [lo, hi] matches.
  bool intersects(uint32_t lo, uint32_t hi) const;
  // The smallest matching code point, or UINT32_MAX when none does.
  uint32_t smallest() const;
};

struct Grammar {
  std::vector<GrammarElem> elems;           // every alternative, each ended by End
  std::vector<std::vector<uint32_t>> alts;  // per rule: where each alternative starts in elems
  std::vector<CharClass> classes;
  std::vector<std::string> rule_names;      // generated rules are named after their parent
  uint32_t root = 0;
  // Per position in elems: the fewest UTF-8 bytes that complete the
  // alternative from there (the budget rule needs it at every step).
  std::vector<uint32_t> min_bytes;
};

// Sizes past which a grammar is refused rather than expanded: a few lines of
// repetition counts could otherwise ask for gigabytes.
struct GrammarLimits {
  size_t max_text = 1 << 20;      // bytes of GBNF
  size_t max_rules = 50000;       // including the rules repetitions generate
  size_t max_elems = 1 << 21;
  uint32_t max_repeat = 4096;     // m and n in {m,n}
  int max_nesting = 64;           // parentheses
};

// Error "grammar: line L:C: ..." for bad syntax, an undefined or twice
// defined rule, a missing root, left recursion (which a top-down matcher
// cannot handle), a rule that can never finish, or a limit exceeded.
std::shared_ptr<const Grammar> parse_grammar(std::string_view text, const GrammarLimits& lim = {});

// Fewest bytes of a code point's UTF-8 encoding.
inline uint32_t utf8_length(uint32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

}  // namespace lineage
