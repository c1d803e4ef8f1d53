// Tokenizers built from small hand-made GGUF files: broken or contradictory
// metadata must give a clear lineage::Error, never a crash; odd but legal
// vocabularies (no byte tokens, unused pieces) must still encode sensibly.
// Also the speed bound: 100 KB of text in well under a second.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

using namespace lineage;

namespace {

GGUFValue str_array(const std::vector<std::string>& v) {
  GGUFValue a;
  a.type = GGUFType::ARRAY;
  a.elem_type = GGUFType::STRING;
  a.strs = v;
  return a;
}

GGUFValue f32_array(const std::vector<double>& v) {
  GGUFValue a;
  a.type = GGUFType::ARRAY;
  a.elem_type = GGUFType::F32;
  a.floats = v;
  return a;
}

GGUFValue i32_array(const std::vector<int64_t>& v) {
  GGUFValue a;
  a.type = GGUFType::ARRAY;
  a.elem_type = GGUFType::I32;
  a.ints = v;
  return a;
}

// Writes the file, opens it and builds the tokenizer (which may throw).
class Built {
 public:
  explicit Built(const GGUFWriter& w) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("lineage_tok_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".gguf"))
                .string();
    w.write(path_);
    file_ = GGUFFile::open(path_);
  }
  ~Built() { std::filesystem::remove(path_); }
  std::unique_ptr<Tokenizer> tokenizer() const { return Tokenizer::from_gguf(*file_); }

 private:
  std::string path_;
  std::unique_ptr<GGUFFile> file_;
};

// A SentencePiece vocabulary over the letters a-c: control <s>/</s>, unknown
// <unk>, optional byte tokens.
GGUFWriter tiny_spm(bool with_bytes) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "c", "\xE2\x96\x81" "a", "ab", "abc"};
  // "ab" outranks "▁a", so "abc" is built as a + b, then ab + c.
  std::vector<double> scores = {0, 0, 0, -1, -2, -2, -2, -3, -1, -1.5};
  std::vector<int64_t> types = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  if (with_bytes) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      tokens.push_back(name);
      scores.push_back(0);
      types.push_back(6);
    }
  }
  GGUFWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set("tokenizer.ggml.tokens", str_array(tokens));
  w.set("tokenizer.ggml.scores", f32_array(scores));
  w.set("tokenizer.ggml.token_type", i32_array(types));
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  return w;
}

// A byte-level BPE vocabulary: all 256 byte characters plus a few merges.
GGUFWriter tiny_bpe() {
  std::vector<std::string> tokens;
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    // GPT-2's table: visible Latin-1 bytes stand for themselves, the rest
    // are shifted to U+0100 and up.
    const bool visible = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const uint32_t cp = visible ? b : 256 + shifted++;
    std::string s;
    if (cp < 0x80) s.push_back(static_cast<char>(cp));
    else {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    tokens.push_back(s);
  }
  tokens.push_back("\xC4\xA0h");  // "Ġh"
  tokens.push_back("\xC4\xA0hi");
  tokens.push_back("<|end|>");
  std::vector<int64_t> types(tokens.size(), 1);
  types.back() = 3;
  GGUFWriter w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  w.set("tokenizer.ggml.tokens", str_array(tokens));
  w.set("tokenizer.ggml.token_type", i32_array(types));
  w.set("tokenizer.ggml.merges", str_array({"\xC4\xA0 h", "\xC4\xA0h i"}));
  w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(tokens.size() - 1));
  return w;
}

void expect_error(const GGUFWriter& w, const std::string& fragment) {
  Built b(w);
  try {
    b.tokenizer();
    ADD_FAILURE() << "no error; expected one mentioning \"" << fragment << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(TokenizerHostile, TinyVocabulariesWork) {
  {
    Built b(tiny_spm(true));
    auto t = b.tokenizer();
    EXPECT_EQ(t->encode("abc", true, false), (std::vector<int32_t>{1, 3, 9}));  // <s> ▁ abc
    EXPECT_EQ(t->decode(t->encode("ab ca\n", true, false)), "ab ca\n");
  }
  {
    Built b(tiny_bpe());
    auto t = b.tokenizer();
    EXPECT_EQ(t->encode(" hi", false, false), std::vector<int32_t>{257});
    EXPECT_EQ(t->decode(t->encode("x hi\n\xFF", false, false)), "x hi\n\xFF");
    EXPECT_EQ(t->eos_id(), 258);
    EXPECT_EQ(t->end_of_generation_ids(), std::vector<int32_t>{258});
    EXPECT_EQ(t->encode("a<|end|>", false, true).back(), 258);
  }
}

TEST(TokenizerHostile, MissingOrEmptyVocabulary) {
  GGUFWriter none;
  none.set_string("general.architecture", "llama");
  expect_error(none, "no vocabulary");

  GGUFWriter model_only;
  model_only.set_string("tokenizer.ggml.model", "llama");
  expect_error(model_only, "no vocabulary");

  GGUFWriter empty = tiny_spm(false);
  empty.set("tokenizer.ggml.tokens", str_array({}));
  expect_error(empty, "empty vocabulary");
}

TEST(TokenizerHostile, ArraysThatDoNotCoverTheTokens) {
  GGUFWriter short_scores = tiny_spm(false);
  short_scores.set("tokenizer.ggml.scores", f32_array({0, 0, 0}));
  expect_error(short_scores, "tokenizer.ggml.scores");

  GGUFWriter short_types = tiny_spm(false);
  short_types.set("tokenizer.ggml.token_type", i32_array({1}));
  expect_error(short_types, "tokenizer.ggml.token_type");

  GGUFWriter wrong_kind = tiny_spm(false);
  wrong_kind.set("tokenizer.ggml.scores", str_array({"x"}));
  EXPECT_THROW(Built(wrong_kind).tokenizer(), Error);

  GGUFWriter tokens_not_strings = tiny_spm(false);
  tokens_not_strings.set("tokenizer.ggml.tokens", i32_array({1, 2, 3}));
  EXPECT_THROW(Built(tokens_not_strings).tokenizer(), Error);
}

TEST(TokenizerHostile, SpecialIdsOutsideTheVocabulary) {
  GGUFWriter bos = tiny_spm(false);
  bos.set_u32("tokenizer.ggml.bos_token_id", 4000000);
  expect_error(bos, "tokenizer.ggml.bos_token_id");

  GGUFWriter eos = tiny_spm(false);
  eos.set_u32("tokenizer.ggml.eos_token_id", 10);  // one past the last token
  expect_error(eos, "tokenizer.ggml.eos_token_id");

  GGUFWriter eot = tiny_spm(false);
  eot.set_u32("tokenizer.ggml.eot_token_id", 99);
  expect_error(eot, "tokenizer.ggml.eot_token_id");

  // A negative id means "none".
  GGUFWriter negative = tiny_spm(false);
  negative.set_i32("tokenizer.ggml.bos_token_id", -1);
  Built b(negative);
  auto t = b.tokenizer();
  EXPECT_EQ(t->bos_id(), -1);
  EXPECT_EQ(t->encode("a", true, false), std::vector<int32_t>{7});
}

TEST(TokenizerHostile, UnsupportedModelsAndPreTokenizers) {
  GGUFWriter bert = tiny_spm(false);
  bert.set_string("tokenizer.ggml.model", "bert");
  expect_error(bert, "unsupported tokenizer.ggml.model \"bert\"");

  GGUFWriter copy;
  copy.set("tokenizer.ggml.tokens", str_array({"a", "b"}));
  expect_error(copy, "tokenizer.ggml.model is missing");

  GGUFWriter pre = tiny_bpe();
  pre.set_string("tokenizer.ggml.pre", "no-such-pre");
  expect_error(pre, "unsupported tokenizer.ggml.pre \"no-such-pre\"");

  GGUFWriter no_merges = tiny_bpe();
  no_merges.set("tokenizer.ggml.merges", i32_array({}));
  EXPECT_THROW(Built(no_merges).tokenizer(), Error);

  GGUFWriter bad_merge = tiny_bpe();
  bad_merge.set("tokenizer.ggml.merges", str_array({"nospace"}));
  expect_error(bad_merge, "tokenizer.ggml.merges[0]");
}

TEST(TokenizerHostile, OddButLegalVocabularies) {
  // Without byte tokens, unknown text becomes <unk> rather than failing.
  {
    Built b(tiny_spm(false));
    auto t = b.tokenizer();
    EXPECT_EQ(t->encode("az", false, false), (std::vector<int32_t>{7, 0}));
    EXPECT_EQ(t->decode({7, 0}), "a \xE2\x81\x87 ");
  }
  // Without byte tokens or <unk> there is no way to spell it: an Error.
  {
    GGUFWriter w = tiny_spm(false);
    w.set("tokenizer.ggml.token_type", i32_array({1, 3, 3, 1, 1, 1, 1, 1, 1, 1}));
    w.set("tokenizer.ggml.tokens", str_array({"<nk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "c", "\xE2\x96\x81" "a", "ab", "abc"}));
    Built b(w);
    auto t = b.tokenizer();
    EXPECT_EQ(t->unk_id(), -1);
    EXPECT_THROW(t->encode("z", false, false), Error);
  }
  // Unused pieces may be merged through but are never emitted.
  {
    GGUFWriter w = tiny_spm(true);
    std::vector<int64_t> types = {2, 3, 3, 1, 1, 1, 1, 1, 5, 1};
    types.resize(10 + 256, 6);
    w.set("tokenizer.ggml.token_type", i32_array(types));
    Built b(w);
    auto t = b.tokenizer();
    EXPECT_EQ(t->encode("abc", false, false), (std::vector<int32_t>{3, 9}));     // through "ab" to "abc"
    EXPECT_EQ(t->encode("ab", false, false), (std::vector<int32_t>{3, 4, 5}));   // "ab" split back
  }
  // Unknown type codes, empty token strings and missing scores are tolerated.
  {
    GGUFWriter w;
    w.set_string("tokenizer.ggml.model", "llama");
    w.set("tokenizer.ggml.tokens", str_array({"", "x", "\xE2\x96\x81x"}));
    w.set("tokenizer.ggml.token_type", i32_array({99, -4, 1}));
    Built b(w);
    auto t = b.tokenizer();
    EXPECT_EQ(t->encode("x", false, false), std::vector<int32_t>{2});
    EXPECT_EQ(t->bos_id(), -1);
    EXPECT_THROW(t->token_to_piece(3), Error);
  }
}

// Long inputs, including runs of one character that stress the merge
// queue. Speed is measured in bench/, not asserted here.
TEST(TokenizerHostile, HundredKilobyteTextsRoundTrip) {
  const std::string shared = LINEAGE_SHARED_DIR;
  std::string mixed;
  const std::string unit =
      "The quick brown fox, 12345 times!\n\tcode(x) { return y; }  \xE6\x97\xA5\xE6\x9C\xAC "
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xF0\x9F\xA6\x99   ";
  while (mixed.size() < 100000) mixed += unit;
  const std::vector<std::string> texts = {mixed, std::string(100000, 'a'), std::string(100000, ' '),
                                          std::string(100000, '7')};
  for (const char* file : {"/vocab/ggml-vocab-llama-spm.gguf", "/vocab/ggml-vocab-llama-bpe.gguf",
                           "/vocab/ggml-vocab-deepseek-llm.gguf", "/models/shakespeare-5M.gguf"}) {
    auto f = GGUFFile::open(shared + file);
    auto t = Tokenizer::from_gguf(*f);
    for (const std::string& text : texts) {
      const std::vector<int32_t> ids = t->encode(text, true, true);
      EXPECT_LE(ids.size(), text.size() + 2) << file;  // BOS, space prefix, one token a byte at most
      EXPECT_EQ(t->decode(ids), text) << file;
    }
  }
}

TEST(TokenizerHostile, RandomTextRoundTripsOnEveryVocabulary) {
  const std::string shared = LINEAGE_SHARED_DIR;
  // Pieces to build texts from: ASCII, multi-byte characters, whitespace,
  // special-token spellings and lone bytes that are not UTF-8 at all.
  const std::vector<std::string> atoms = {
      "a", "Z", "7", " ", "  ", "\n", "\r\n", "\t", "'s", "...", "<", "|>", "<|eot_id|>", "</s>", "<s>",
      "\xC3\xA9", "\xE6\x97\xA5", "\xD9\x85", "\xF0\x9F\xA6\x99", "\xE2\x80\x8D", "\xCC\x81", "\xEF\xBB\xBF",
      std::string(1, '\0'), "\x1B", "\xC2\xA0"};
  // Bytes that are not UTF-8. Some byte-level vocabularies have no token for
  // them (Falcon, StarCoder) or reuse the character for an added token
  // (DeepSeek), so those cannot give them back.
  const std::vector<std::string> broken = {"\xFF", "\x80", "\xC3", "\xE2\x82", "\xF0\x9F"};
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  struct Case {
    std::string text;
    bool valid_utf8;
  };
  std::vector<Case> cases;
  for (int k = 0; k < 200; ++k) {
    Case c{"", k % 2 == 0};
    const int n = static_cast<int>(next() % 24);
    for (int j = 0; j < n; ++j) {
      if (!c.valid_utf8 && next() % 4 == 0) c.text += broken[next() % broken.size()];
      else c.text += atoms[next() % atoms.size()];
    }
    cases.push_back(c);
  }
  struct Vocabulary {
    const char* file;
    bool spells_every_byte;
  };
  const Vocabulary vocabularies[] = {
      {"/vocab/ggml-vocab-llama-spm.gguf", true},   {"/vocab/ggml-vocab-phi-3.gguf", true},
      {"/vocab/ggml-vocab-llama-bpe.gguf", true},   {"/vocab/ggml-vocab-gpt-2.gguf", true},
      {"/vocab/ggml-vocab-deepseek-llm.gguf", false}, {"/vocab/ggml-vocab-deepseek-coder.gguf", false},
      {"/vocab/ggml-vocab-falcon.gguf", false},     {"/vocab/ggml-vocab-starcoder.gguf", false},
      {"/models/shakespeare-5M.gguf", true},
  };
  for (const Vocabulary& v : vocabularies) {
    const char* file = v.file;
    auto f = GGUFFile::open(shared + file);
    auto t = Tokenizer::from_gguf(*f);
    for (const Case& c : cases) {
      const std::vector<int32_t> plain = t->encode(c.text, false, false);
      if (c.valid_utf8 || v.spells_every_byte) {
        EXPECT_EQ(t->decode(plain), c.text) << file;
      }
      for (int32_t id : t->encode(c.text, true, true)) ASSERT_TRUE(id >= 0 && id < t->n_vocab()) << file;
    }
    std::vector<int32_t> ids;
    for (int k = 0; k < 2000; ++k) ids.push_back(static_cast<int32_t>(next() % static_cast<uint64_t>(t->n_vocab())));
    EXPECT_NO_THROW(t->decode(ids)) << file;
  }
}
