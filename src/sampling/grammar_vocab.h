// A model's vocabulary as the grammar sees it, built once per model: the
// bytes each token adds to the output, and a byte trie of them laid out in
// depth-first order, so the set of allowed tokens is one walk that carries
// the matcher's state down the trie and skips every subtree the grammar
// rules out at its first byte. Byte-fallback tokens (<0xNN>) are their one
// byte; control tokens are never text; end-of-generation tokens are allowed
// only where the grammar is complete.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sampling/grammar_matcher.h"
#include "sampling/sampler.h"

namespace lineage {

class Tokenizer;

class GrammarVocab {
 public:
  enum Kind : uint8_t { Text, EndOfGeneration, Never };
  struct TrieNode {
    uint32_t end;        // one past the last node of this subtree
    uint32_t tok_begin;  // tokens whose bytes end here: ids_[tok_begin, tok_end)
    uint32_t tok_end;
    uint16_t depth;
    uint8_t byte;
  };

  explicit GrammarVocab(const Tokenizer& tok);
  int32_t n_vocab() const { return static_cast<int32_t>(kind_.size()); }
  Kind kind(int32_t id) const { return kind_[id]; }
  const std::string& piece(int32_t id) const { return pieces_[id]; }
  const std::vector<TrieNode>& trie() const { return trie_; }
  const std::vector<int32_t>& trie_ids() const { return ids_; }
  const std::vector<int32_t>& end_ids() const { return end_ids_; }
  int max_depth() const { return max_depth_; }

 private:
  std::vector<Kind> kind_;
  std::vector<std::string> pieces_;
  std::vector<TrieNode> trie_;  // trie_[0] is the root (no byte)
  std::vector<int32_t> ids_;
  std::vector<int32_t> end_ids_;
  int max_depth_ = 0;
};

// One generation's grammar state as a sampling constraint. With a token
// budget, a token is allowed only if the output can still be completed in
// the tokens left after it (each token adds at least one byte, and single
// byte tokens exist in byte-fallback and byte-level vocabularies).
class GrammarConstraint : public TokenConstraint {
 public:
  GrammarConstraint(std::shared_ptr<const Grammar> g, const GrammarVocab& vocab, bool allow_end);

  // Tokens that may still be generated, this one included; < 0: no limit.
  void set_budget(int tokens_left) { budget_ = tokens_left; }
  bool allows(int32_t id) override;
  void fill_mask(std::vector<uint8_t>& allowed) override;
  // Moves past a sampled token (Error if it does not fit the grammar).
  void accept(int32_t id);
  // The output is complete and nothing may follow it.
  bool finished() const { return m_.finished(); }
  bool accepting() const { return m_.accepting(); }
  // Fewest bytes still needed to complete the output.
  uint32_t need() const { return m_.need(); }

 private:
  bool fits(const GrammarMatcher::State& st) const;

  GrammarMatcher m_;
  const GrammarVocab& vocab_;
  bool allow_end_;
  int budget_ = -1;
  std::vector<GrammarMatcher::State> by_depth_;
  GrammarMatcher::State a_, b_;
};

}  // namespace lineage
