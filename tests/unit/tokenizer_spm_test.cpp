// SentencePiece vocabularies against SentencePiece itself: the corpus in
// tests/data/tokenizer is encoded with the GGUF vocabularies and compared with
// ids that python3-sentencepiece produced from the original .model files (the
// recorded .out files, and a fresh run when that python module is present).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

using namespace lineage;

namespace {

const std::string kShared = LINEAGE_SHARED_DIR;
const std::string kData = std::string(LINEAGE_TEST_DIR) + "/data/tokenizer";
const char* const kPython = "/usr/bin/python3";

using test::read_cases;
using test::read_file;

std::vector<std::vector<int32_t>> parse_ids(const std::string& text) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

// A GGUF vocabulary and the SentencePiece model it was converted from.
struct Pair {
  const char* name;  // also names tests/data/tokenizer/corpus.<name>.out
  std::string gguf;
  std::string model;
};

std::vector<Pair> pairs() {
  return {
      {"llama2", kShared + "/vocab/ggml-vocab-llama-spm.gguf", kShared + "/vocab/llama2-tokenizer.model"},
      {"shakespeare", kShared + "/models/shakespeare-5M.gguf", kShared + "/models/shakespeare-5M.tokenizer.model"},
  };
}

struct Loaded {
  std::unique_ptr<GGUFFile> file;
  std::unique_ptr<Tokenizer> tok;
};

Loaded load(const std::string& path) {
  Loaded l;
  l.file = GGUFFile::open(path);
  l.tok = Tokenizer::from_gguf(*l.file);
  return l;
}

bool run_command(const std::string& cmd, std::string& out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return false;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  return pclose(p) == 0;
}

bool python_sentencepiece_available() {
  std::string ignored;
  return run_command(std::string(kPython) + " -c 'import sentencepiece' 2>/dev/null", ignored);
}

}  // namespace

TEST(TokenizerSpm, CorpusMatchesRecordedSentencePiece) {
  const std::vector<std::string> cases = read_cases(kData + "/corpus.txt");
  ASSERT_GT(cases.size(), 20u);
  for (const Pair& p : pairs()) {
    Loaded l = load(p.gguf);
    const auto want = parse_ids(read_file(kData + "/corpus." + p.name + ".out"));
    ASSERT_EQ(want.size(), cases.size()) << p.name << ": rerun tests/data/tokenizer/make_expected.py";
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ(l.tok->encode(cases[i], false, false), want[i]) << p.name << " case " << i << ": \"" << cases[i] << "\"";
    }
  }
}

TEST(TokenizerSpm, CorpusMatchesLiveSentencePiece) {
  if (!python_sentencepiece_available()) {
    GTEST_SKIP() << kPython << " with the sentencepiece module (Debian python3-sentencepiece) is not available; "
                 << "only the recorded ids were checked";
  }
  const std::string corpus = kData + "/corpus.txt";
  const std::vector<std::string> cases = read_cases(corpus);
  for (const Pair& p : pairs()) {
    std::string out;
    const std::string cmd = std::string(kPython) + " " + kData + "/make_expected.py --print " + p.model + " " + corpus;
    ASSERT_TRUE(run_command(cmd, out)) << cmd;
    const auto want = parse_ids(out);
    ASSERT_EQ(want.size(), cases.size()) << p.name;
    Loaded l = load(p.gguf);
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ(l.tok->encode(cases[i], false, false), want[i]) << p.name << " case " << i << ": \"" << cases[i] << "\"";
    }
  }
}

TEST(TokenizerSpm, CorpusRoundTrips) {
  const std::vector<std::string> cases = read_cases(kData + "/corpus.txt");
  for (const Pair& p : pairs()) {
    Loaded l = load(p.gguf);
    for (const std::string& c : cases) {
      EXPECT_EQ(l.tok->decode(l.tok->encode(c, true, false)), c) << p.name;
      EXPECT_EQ(l.tok->decode(l.tok->encode(c, false, false)), c) << p.name;
    }
  }
}

TEST(TokenizerSpm, MalformedUtf8RoundTripsThroughByteTokens) {
  // SentencePiece would replace these bytes with U+FFFD; keeping them lets
  // any byte string survive encode/decode.
  const std::string odd = std::string("ok \xFF\xFE mid \xC3 end \xE2\x82 \xF0\x9F\x98 \x80\xBF") + '\0' + "z";
  for (const Pair& p : pairs()) {
    Loaded l = load(p.gguf);
    EXPECT_EQ(l.tok->decode(l.tok->encode(odd, true, false)), odd) << p.name;
  }
}

TEST(TokenizerSpm, ShakespeareExpectedTexts) {
  Loaded l = load(kShared + "/models/shakespeare-5M.gguf");
  const auto doc = nlohmann::json::parse(read_file(kShared + "/models/shakespeare-5M.expected.json"));
  ASSERT_FALSE(doc["cases"].empty());
  for (const auto& c : doc["cases"]) {
    std::vector<int32_t> ids = c["prompt_ids_with_bos"].get<std::vector<int32_t>>();
    EXPECT_EQ(l.tok->encode(c["prompt"].get<std::string>(), l.tok->add_bos_default(), false), ids);
    for (int32_t id : c["greedy_ids"].get<std::vector<int32_t>>()) ids.push_back(id);
    EXPECT_EQ(l.tok->decode(ids), c["greedy_text"].get<std::string>());
  }
}

TEST(TokenizerSpm, AidreamsPromptIds) {
  Loaded l = load(kShared + "/models/aidreams260K.gguf");
  const auto doc = nlohmann::json::parse(read_file(kShared + "/models/aidreams260K.expected.json"));
  for (const auto& c : doc["cases"]) {
    EXPECT_EQ(l.tok->encode(c["prompt"].get<std::string>(), true, false), c["prompt_ids_with_bos"].get<std::vector<int32_t>>());
  }
}

TEST(TokenizerSpm, SpacePrefixAndSpaces) {
  Loaded l = load(kShared + "/vocab/ggml-vocab-llama-spm.gguf");
  const Tokenizer& t = *l.tok;
  EXPECT_TRUE(t.encode("", false, false).empty());
  EXPECT_EQ(t.encode("", true, false), std::vector<int32_t>{1});
  EXPECT_EQ(t.encode(" ", false, false), std::vector<int32_t>{259});  // "▁▁"
  EXPECT_EQ(t.decode({259}), " ");
}
