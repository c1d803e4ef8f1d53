// The parser's back end: rules as they are read, the expansion of
// repetitions into generated rules, and the checks that make a grammar safe
// for the matcher (no left recursion, every rule can finish), then the flat
// Grammar. Internal to the grammar parser.
#pragma once
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "sampling/grammar.h"

namespace lineage {

class GrammarBuilder {
 public:
  struct Rule {
    std::string name;
    std::vector<std::vector<GrammarElem>> alts;
    size_t pos = 0;  // definition (or first reference, or the construct that generated it)
    bool defined = false;
    bool generated = false;
  };

  GrammarBuilder(const GrammarLimits& l, std::string_view text) : lim(l), text_(text) {}

  std::string where(size_t pos) const;
  template <typename... Parts>
  [[noreturn]] void error_at(size_t pos, const Parts&... parts) const {
    std::ostringstream os;
    (os << ... << parts);
    fail("grammar: line ", where(pos), ": ", os.str());
  }

  // The rule called name, created (undefined) on first reference.
  uint32_t rule_id(const std::string& name, size_t pos);
  // A rule for a group or repetition inside owner.
  uint32_t new_rule(uint32_t owner, size_t pos);
  GrammarElem chars(CharClass cls);
  // x{lo,hi} (hi unbounded when !bounded) as a sequence of elements.
  std::vector<GrammarElem> repeat(uint32_t owner, std::vector<GrammarElem> x, uint32_t lo, uint32_t hi, bool bounded,
                                  size_t pos);
  void count_elems(size_t n, size_t pos);
  std::shared_ptr<const Grammar> finish();

  const GrammarLimits lim;
  std::vector<Rule> rules;

 private:
  void check_left_recursion(const std::vector<bool>& nullable) const;

  std::string_view text_;
  std::unordered_map<std::string, uint32_t> by_name_;
  std::vector<CharClass> classes_;
  size_t n_elems_ = 0;
};

}  // namespace lineage
