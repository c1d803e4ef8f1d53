// The token table every tokenizer works from, read from tokenizer.ggml.*
// metadata and checked before use: a vocabulary that loads here can be
// indexed by any id in [0, size()) without further checks.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lineage {

class GGUFFile;

// Values of tokenizer.ggml.token_type.
enum class TokenType : uint8_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

class Vocab {
 public:
  // Reads tokens, scores and types; Error when the list is missing or empty,
  // or when scores/types are present but do not cover every token.
  static Vocab from_gguf(const GGUFFile& f);

  int32_t size() const { return static_cast<int32_t>(text_.size()); }
  bool valid(int32_t id) const { return id >= 0 && id < size(); }
  const std::string& text(int32_t id) const { return text_[id]; }
  float score(int32_t id) const { return score_[id]; }
  TokenType type(int32_t id) const { return type_[id]; }
  // -1 when no token has exactly this text.
  int32_t find(std::string_view s) const;

  // Reads an optional token-id key: -1 when absent or negative, Error when it
  // names a token outside the vocabulary.
  int32_t read_id(const GGUFFile& f, const char* key) const;

 private:
  std::vector<std::string> text_;
  std::vector<float> score_;
  std::vector<TokenType> type_;
  // Open-addressing table of ids keyed by text (power-of-two size, -1 for
  // empty slots): loading a large vocabulary does a million lookups, and a
  // flat table keeps each to about one cache miss.
  std::vector<int32_t> slots_;
  uint64_t mask_ = 0;
};

}  // namespace lineage
