// SentencePiece BPE ("llama" vocabularies): characters merge pairwise,
// highest-scoring resulting piece first, and whatever ends up outside the
// vocabulary is spelled with <0xXX> byte tokens.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace lineage {

class SpmModel {
 public:
  // unk_id (-1 if none) spells bytes that have no byte token.
  SpmModel(const Vocab& vocab, int32_t unk_id);

  // Encodes text in which spaces are already escaped as U+2581, appending ids.
  void encode(std::string_view text, std::vector<int32_t>& out) const;

  // Id for a raw byte: <0xXX>, else the one-byte token, else -1.
  int32_t byte_token(uint8_t b) const { return byte_ids_[b]; }

 private:
  void emit(std::string_view piece, std::vector<int32_t>& out) const;

  const Vocab& vocab_;
  int32_t unk_id_ = -1;
  int32_t byte_ids_[256];
};

}  // namespace lineage
