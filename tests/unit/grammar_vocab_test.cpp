// Grammar masks over real vocabularies (LLaMA 2 SentencePiece with byte
// fallback, Llama 3 byte-level BPE): tokens spanning several grammar
// elements, byte tokens matched byte by byte, control and end tokens, the
// token budget; the trie walk's mask equals asking token by token; and a
// constrained sampler draws exactly what the masked logits would give.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "core/error.h"
#include "gguf/gguf.h"
#include "sampling/grammar.h"
#include "sampling/grammar_vocab.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace lineage {
namespace {

const std::string kShared = LINEAGE_SHARED_DIR;

struct Vocab {
  explicit Vocab(const std::string& name) {
    auto f = GGUFFile::open(kShared + "/vocab/" + name);
    tok = Tokenizer::from_gguf(*f);
    gv = std::make_unique<GrammarVocab>(*tok);
  }
  int32_t id(const std::string& text) const {
    const int32_t i = tok->find_token(text);
    EXPECT_GE(i, 0) << text;
    return i;
  }
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<GrammarVocab> gv;
};

const Vocab& spm() {
  static Vocab v("ggml-vocab-llama-spm.gguf");
  return v;
}
const Vocab& bpe() {
  static Vocab v("ggml-vocab-llama-bpe.gguf");
  return v;
}

// The walk over the trie and the one-token check must agree everywhere.
void expect_mask_matches_allows(GrammarConstraint& c, int n_vocab) {
  std::vector<uint8_t> mask;
  c.fill_mask(mask);
  ASSERT_EQ(mask.size(), static_cast<size_t>(n_vocab));
  int differ = 0;
  for (int32_t id = 0; id < n_vocab; ++id)
    if ((mask[id] != 0) != c.allows(id)) ++differ;
  EXPECT_EQ(differ, 0);
}

TEST(GrammarVocab, SentencePieceTokensSpanElements) {
  const Vocab& v = spm();
  GrammarConstraint c(parse_grammar("root ::= \" \" \"t\" \"h\" [e] [a-z]* \".\""), *v.gv, true);
  EXPECT_TRUE(c.allows(v.id("\xE2\x96\x81the")));   // one token, four elements
  EXPECT_TRUE(c.allows(v.id("\xE2\x96\x81them")));  // and into the repetition
  EXPECT_FALSE(c.allows(v.id("\xE2\x96\x81" "a")));
  EXPECT_FALSE(c.allows(v.id("the")));  // no leading space
  EXPECT_FALSE(c.allows(v.tok->bos_id()));
  EXPECT_FALSE(c.allows(v.tok->eos_id()));
  expect_mask_matches_allows(c, v.tok->n_vocab());
  c.accept(v.id("\xE2\x96\x81the"));
  EXPECT_TRUE(c.allows(v.id("ory")));
  EXPECT_TRUE(c.allows(v.id(".")));
  EXPECT_FALSE(c.allows(v.id("\xE2\x96\x81the")));
  expect_mask_matches_allows(c, v.tok->n_vocab());
  c.accept(v.id("."));
  EXPECT_TRUE(c.finished());
}

TEST(GrammarVocab, ByteFallbackTokensMatchByteByByte) {
  const Vocab& v = spm();
  // U+00E9 is 0xC3 0xA9; U+4E2D (中) is 0xE4 0xB8 0xAD.
  GrammarConstraint c(parse_grammar("root ::= [\xC3\xA9\xE4\xB8\xAD]+"), *v.gv, true);
  EXPECT_TRUE(c.allows(v.id("<0xC3>")));
  EXPECT_TRUE(c.allows(v.id("<0xE4>")));
  EXPECT_FALSE(c.allows(v.id("<0xA9>")));  // a continuation byte cannot start a character
  EXPECT_FALSE(c.allows(v.id("<0xC4>")));  // U+0100..U+013F: none in the class
  EXPECT_FALSE(c.allows(v.tok->eos_id()));
  expect_mask_matches_allows(c, v.tok->n_vocab());
  c.accept(v.id("<0xE4>"));
  EXPECT_TRUE(c.allows(v.id("<0xB8>")));
  EXPECT_FALSE(c.allows(v.id("<0xB9>")));
  EXPECT_FALSE(c.allows(v.id("<0xC3>")));
  expect_mask_matches_allows(c, v.tok->n_vocab());
  c.accept(v.id("<0xB8>"));
  c.accept(v.id("<0xAD>"));
  EXPECT_TRUE(c.accepting());
  EXPECT_TRUE(c.allows(v.tok->eos_id()));  // end only where the grammar is complete
  EXPECT_FALSE(c.finished());
  EXPECT_THROW(c.accept(v.id("a")), Error);
}

TEST(GrammarVocab, ByteLevelVocabulary) {
  const Vocab& v = bpe();
  GrammarConstraint c(parse_grammar("root ::= \" caf\xC3\xA9\" | \" \xC3\xA9t\xC3\xA9\""), *v.gv, true);
  EXPECT_TRUE(c.allows(v.id("\xC4\xA0" "caf")));  // "Ġcaf" is " caf"
  EXPECT_FALSE(c.allows(v.id("caf")));
  expect_mask_matches_allows(c, v.tok->n_vocab());
  c.accept(v.id("\xC4\xA0" "caf"));
  // A single-byte token for 0xC3 ("Ã" in the byte-level alphabet) starts é.
  EXPECT_TRUE(c.allows(v.id("\xC3\x83")));
  EXPECT_TRUE(c.allows(v.id("\xC3\x83\xC2\xA9")));  // "Ã©": the whole é
  expect_mask_matches_allows(c, v.tok->n_vocab());
  for (int32_t id : v.tok->end_of_generation_ids()) EXPECT_FALSE(c.allows(id));
  c.accept(v.id("\xC3\x83"));
  EXPECT_TRUE(c.allows(v.id("\xC2\xA9")));  // "©" is the byte 0xA9
  c.accept(v.id("\xC2\xA9"));
  EXPECT_TRUE(c.finished());
}

TEST(GrammarVocab, BudgetKeepsCompletionPossible) {
  const Vocab& v = spm();
  const std::string g = "root ::= \"[\" [a-z]* \"]\"";
  GrammarConstraint c(parse_grammar(g), *v.gv, true);
  c.set_budget(2);  // "[" then "]": nothing may go between
  EXPECT_TRUE(c.allows(v.id("[")));
  EXPECT_TRUE(c.allows(v.id("[]")));
  c.accept(v.id("["));
  c.set_budget(1);
  EXPECT_TRUE(c.allows(v.id("]")));
  EXPECT_FALSE(c.allows(v.id("abc")));
  EXPECT_TRUE(c.allows(v.id("]")));
  expect_mask_matches_allows(c, v.tok->n_vocab());
  c.set_budget(2);
  EXPECT_TRUE(c.allows(v.id("abc")));
}

// Allows a fixed set; counts how often the whole mask was asked for.
class FixedConstraint : public TokenConstraint {
 public:
  explicit FixedConstraint(std::vector<uint8_t> allowed) : allowed_(std::move(allowed)) {}
  bool allows(int32_t id) override { return allowed_[id] != 0; }
  void fill_mask(std::vector<uint8_t>& out) override {
    ++masks;
    out = allowed_;
  }
  int masks = 0;

 private:
  std::vector<uint8_t> allowed_;
};

TEST(GrammarSampler, SameDrawAsMaskedLogits) {
  const int n = 3000;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int trial = 0; trial < 24; ++trial) {
    std::vector<float> logits(n);
    for (float& l : logits) l = normal(rng);
    std::vector<uint8_t> allowed(n);
    const int every = 1 + trial % 6 * 40;  // from everything allowed to a sparse set
    for (int i = 0; i < n; ++i) allowed[i] = i % every == trial % every;
    SamplerParams p;
    p.temperature = trial % 4 == 0 ? 0.0f : 0.7f;
    p.top_k = trial % 3 == 0 ? 0 : 40;
    p.seed = static_cast<uint64_t>(trial);
    std::vector<float> masked = logits;
    for (int i = 0; i < n; ++i)
      if (!allowed[i]) masked[i] = -INFINITY;
    Sampler plain(p), constrained(p);
    FixedConstraint c(allowed);
    for (int step = 0; step < 5; ++step) {
      std::vector<float> a = masked, b = logits;
      EXPECT_EQ(plain.sample(a.data(), n, {}), constrained.sample(b.data(), n, {}, &c)) << trial;
    }
  }
  std::vector<uint8_t> none(10, 0);
  FixedConstraint c(none);
  Sampler s(SamplerParams{});
  std::vector<float> l(10, 1.0f);
  EXPECT_THROW(s.sample(l.data(), 10, {}, &c), Error);
}

}  // namespace
}  // namespace lineage
