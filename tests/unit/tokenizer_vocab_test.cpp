// Tokenization of the reference vocabularies in shared/vocab against the ids
// recorded for them (.inp strings, .out ids; no BOS, special parsing off),
// plus the behaviour around special and end-of-generation tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

using namespace lineage;

namespace {

std::string vocab_path(const std::string& name) { return std::string(LINEAGE_SHARED_DIR) + "/vocab/ggml-vocab-" + name + ".gguf"; }

using test::read_cases;
using test::read_file;

std::vector<std::vector<int32_t>> read_ids(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

struct Loaded {
  std::unique_ptr<GGUFFile> file;
  std::unique_ptr<Tokenizer> tok;
};

Loaded load(const std::string& name) {
  Loaded l;
  l.file = GGUFFile::open(vocab_path(name));
  l.tok = Tokenizer::from_gguf(*l.file);
  return l;
}

class TokenizerVocab : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(TokenizerVocab, MatchesRecordedIds) {
  const std::string name = GetParam();
  Loaded l = load(name);
  const std::vector<std::string> cases = read_cases(vocab_path(name) + ".inp");
  const std::vector<std::vector<int32_t>> want = read_ids(vocab_path(name) + ".out");
  ASSERT_EQ(cases.size(), want.size());
  ASSERT_GT(cases.size(), 40u);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(l.tok->encode(cases[i], false, false), want[i]) << name << " case " << i << ": \"" << cases[i] << "\"";
  }
}

TEST_P(TokenizerVocab, DecodeInvertsEncode) {
  const std::string name = GetParam();
  Loaded l = load(name);
  for (const std::string& s : read_cases(vocab_path(name) + ".inp")) {
    EXPECT_EQ(l.tok->decode(l.tok->encode(s, true, false)), s) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, TokenizerVocab,
                         ::testing::Values("llama-spm", "phi-3", "llama-bpe", "gpt-2", "deepseek-llm", "deepseek-coder",
                                           "falcon", "starcoder"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(TokenizerSpecial, Llama3ControlTokensOnlyWhenParsing) {
  Loaded l = load("llama-bpe");
  const Tokenizer& t = *l.tok;
  EXPECT_EQ(t.bos_id(), 128000);
  EXPECT_EQ(t.eos_id(), 128001);
  EXPECT_TRUE(t.add_bos_default());
  const int32_t eot = t.find_token("<|eot_id|>");
  const int32_t header = t.find_token("<|start_header_id|>");
  ASSERT_GE(eot, 0);
  ASSERT_GE(header, 0);
  const std::string text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
  const std::vector<int32_t> parsed = t.encode(text, true, true);
  ASSERT_GE(parsed.size(), 5u);
  EXPECT_EQ(parsed[0], 128000);
  EXPECT_EQ(parsed[1], header);
  EXPECT_EQ(parsed.back(), eot);
  // Unparsed, the markers are plain text and round-trip as such.
  const std::vector<int32_t> plain = t.encode(text, false, false);
  for (int32_t id : plain) EXPECT_FALSE(t.is_control(id));
  EXPECT_EQ(t.decode(plain), text);
  // Control tokens print nothing.
  EXPECT_EQ(t.decode(parsed), "user\n\nHi");
  EXPECT_EQ(t.token_to_piece(eot), "");
}

TEST(TokenizerSpecial, SentencePieceSpacePrefixAfterSpecial) {
  Loaded l = load("llama-spm");
  const Tokenizer& t = *l.tok;
  const std::vector<int32_t> a = t.encode("Hello</s>Hello", true, true);
  const std::vector<int32_t> hello = t.encode("Hello", false, false);
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_EQ(a, (std::vector<int32_t>{1, hello[0], 2, hello[0]}));
  // Without parsing, "</s>" is ordinary text.
  const std::vector<int32_t> b = t.encode("Hello</s>", false, false);
  EXPECT_EQ(std::count(b.begin(), b.end(), 2), 0);
  EXPECT_EQ(t.decode(b), "Hello</s>");
}

TEST(TokenizerSpecial, EndOfGenerationIds) {
  {
    Loaded l = load("llama-bpe");
    const auto& eog = l.tok->end_of_generation_ids();
    EXPECT_TRUE(l.tok->is_end_of_generation(128001));
    EXPECT_TRUE(l.tok->is_end_of_generation(128009));  // <|eot_id|>, also named by eot_token_id
    const int32_t eom = l.tok->find_token("<|eom_id|>");  // Llama 3.1 and later only
    if (eom >= 0) {
      EXPECT_TRUE(l.tok->is_end_of_generation(eom));
    }
    EXPECT_FALSE(l.tok->is_end_of_generation(128000));
    EXPECT_TRUE(std::is_sorted(eog.begin(), eog.end()));
  }
  {
    Loaded l = load("llama-spm");
    EXPECT_EQ(l.tok->end_of_generation_ids(), std::vector<int32_t>{2});
  }
  {
    Loaded l = load("phi-3");
    EXPECT_TRUE(l.tok->is_end_of_generation(32000));  // <|endoftext|> = EOS
    EXPECT_TRUE(l.tok->is_end_of_generation(32007));  // <|end|>
  }
  {
    Loaded l = load("gpt-2");
    EXPECT_EQ(l.tok->end_of_generation_ids(), std::vector<int32_t>{50256});
  }
}

TEST(TokenizerSpecial, PiecesAndDecode) {
  Loaded l = load("llama-spm");
  const Tokenizer& t = *l.tok;
  EXPECT_EQ(t.n_vocab(), 32000);
  EXPECT_EQ(t.token_to_piece(t.find_token("<0x0A>")), "\n");
  EXPECT_EQ(t.token_to_piece(t.find_token("\xE2\x96\x81Hello")), " Hello");
  EXPECT_EQ(t.token_to_piece(1), "");
  EXPECT_TRUE(t.is_control(1));
  EXPECT_FALSE(t.is_control(-1));
  EXPECT_THROW(t.token_to_piece(32000), Error);
  EXPECT_THROW(t.decode({5, -3}), Error);
  // As SentencePiece: the first piece loses the prefix space, later ones keep it.
  const int32_t hello = t.find_token("\xE2\x96\x81Hello");
  EXPECT_EQ(t.decode({1, hello, hello}), "Hello Hello");
  EXPECT_EQ(t.decode({t.find_token("\xE2\x96\x81"), hello}), " Hello");
  EXPECT_EQ(t.decode({0, hello}), " \xE2\x81\x87  Hello");

  Loaded g = load("gpt-2");
  EXPECT_EQ(g.tok->token_to_piece(g.tok->find_token("\xC4\xA0the")), " the");  // "Ġthe"
  EXPECT_FALSE(g.tok->add_bos_default());
  EXPECT_EQ(g.tok->pre_tokenizer(), "gpt-2");
}
