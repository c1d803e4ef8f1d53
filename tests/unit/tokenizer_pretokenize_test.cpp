// The PCRE2 pre-tokenizers against splits that Python's `regex` module gives
// for the published patterns (tests/data/tokenizer/pretokenize.json, made by
// make_pretokenize_expected.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/pretokenize.h"

using namespace lineage;

namespace {

std::vector<std::string> split(const PreTokenizer& p, const std::string& text) {
  std::vector<std::string_view> words;
  p.split(text, words);
  return std::vector<std::string>(words.begin(), words.end());
}

}  // namespace

TEST(TokenizerPretokenize, MatchesPublishedPatterns) {
  std::ifstream f(std::string(LINEAGE_TEST_DIR) + "/data/tokenizer/pretokenize.json");
  ASSERT_TRUE(f.good());
  const nlohmann::json doc = nlohmann::json::parse(f);
  ASSERT_EQ(doc.size(), 3u);
  for (const auto& [name, rows] : doc.items()) {
    auto pre = PreTokenizer::create(name);
    ASSERT_GT(rows.size(), 10u);
    for (const auto& row : rows) {
      const std::string text = row[0].get<std::string>();
      EXPECT_EQ(split(*pre, text), row[1].get<std::vector<std::string>>()) << name << ": \"" << text << "\"";
    }
  }
}

TEST(TokenizerPretokenize, EveryKnownNameCompilesAndKeepsEveryByte) {
  const std::string text = "Mixed: ABCdef 12345 \xE6\x97\xA5\xE6\x9C\xAC \xFF\xC3 bad\xE2\x82 bytes\r\n\t end  ";
  for (const std::string& name : PreTokenizer::known_names()) {
    auto pre = PreTokenizer::create(name);
    std::string joined;
    for (const std::string& w : split(*pre, text)) {
      EXPECT_FALSE(w.empty()) << name;
      joined += w;
    }
    EXPECT_EQ(joined, text) << name;
  }
  EXPECT_THROW(PreTokenizer::create("qwerty"), Error);
}

TEST(TokenizerPretokenize, MultiPatternSplits) {
  // DeepSeek Coder: newlines alone, letters with one leading space, digits one by one.
  auto coder = PreTokenizer::create("deepseek-coder");
  EXPECT_EQ(split(*coder, "int x1 = 42;\n"), (std::vector<std::string>{"int", " x", "1", " = ", "4", "2", ";", "\n"}));
  // Falcon: punctuation runs first, then GPT-2 words, then three-digit groups.
  auto falcon = PreTokenizer::create("falcon");
  EXPECT_EQ(split(*falcon, "a+=1234!"), (std::vector<std::string>{"a", "+=", "123", "4", "!"}));
}
