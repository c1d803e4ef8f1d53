// Byte-level BPE ("gpt2" vocabularies): every byte of a pre-token is written
// as one printable character (GPT-2's byte-to-unicode table), then adjacent
// pieces merge in the order of tokenizer.ggml.merges, lowest rank first.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace lineage {

// The printable character that stands for byte b, and its inverse (-1 when
// cp stands for no byte).
uint32_t byte_to_codepoint(uint8_t b);
int codepoint_to_byte(uint32_t cp);

class BpeModel {
 public:
  // ignore_merges: a pre-token that is itself a token is emitted whole, as
  // the Llama 3 tokenizer does, even where the merges would not build it.
  BpeModel(const Vocab& vocab, const std::vector<std::string>& merges, bool ignore_merges);

  // Encodes each pre-token (raw bytes) on its own, appending ids.
  void encode(const std::vector<std::string_view>& words, std::vector<int32_t>& out) const;

  size_t merge_count() const { return merges_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  const Merge* find_merge(int32_t l, int32_t r) const;

  const Vocab& vocab_;
  bool ignore_merges_;
  int32_t byte_ids_[256];  // token of each byte's character, -1 if missing
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace lineage
