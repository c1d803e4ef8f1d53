// Text <-> token ids for a model, built from the tokenizer.ggml.* metadata of
// its GGUF file. Two families are supported: SentencePiece BPE
// (tokenizer.ggml.model = "llama": LLaMA 1/2, Mistral, Mixtral, Phi-3) and
// byte-level BPE ("gpt2": Llama 3/4, GPT-2, DeepSeek, Falcon, StarCoder, ...).
// Encoding matches what SentencePiece and the common GGUF engine produce for
// the same file; a Tokenizer is immutable and safe to share across threads.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/special.h"
#include "tokenizer/vocab.h"

namespace lineage {

class GGUFFile;
class SpmModel;
class BpeModel;
class PreTokenizer;
class SpecialSplitter;

class Tokenizer {
 public:
  // Error with a message naming the file and key when the file has no
  // vocabulary, an unsupported tokenizer.ggml.model or .pre, or metadata that
  // contradicts itself (array lengths, token ids outside the vocabulary).
  static std::unique_ptr<Tokenizer> from_gguf(const GGUFFile& f);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // parse_special: control tokens written in the text (e.g. "<|eot_id|>")
  // become their ids; otherwise they are tokenized as ordinary text.
  // With add_bos, BOS is added unless the text itself starts with the BOS
  // token (parsed as a special token).
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;
  // The first step of encode(): the text cut into special tokens and the
  // plain text between them. Callers that must treat parts of a text
  // differently (a chat prompt, where only the template may write control
  // tokens) split once and encode the plain parts themselves.
  void split_special(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;
  // tokenizer.ggml.add_bos_token, defaulting as the original tokenizer does.
  bool add_bos_default() const { return add_bos_default_; }

  // The bytes token id contributes to output text ("" for control tokens);
  // a byte token yields its single byte, which may be part of a multi-byte
  // character. Error for an id outside the vocabulary.
  std::string token_to_piece(int32_t id) const;
  // Joins pieces as SentencePiece decodes: control tokens vanish and the one
  // space the space prefix put before the first word is dropped. Bytes are
  // passed through unchanged, so decode(encode(x)) == x for any x.
  std::string decode(const std::vector<int32_t>& ids) const;

  int32_t n_vocab() const { return vocab_.size(); }
  const std::string& token_text(int32_t id) const;  // Error when out of range
  bool is_control(int32_t id) const;                // false when out of range
  TokenType token_type(int32_t id) const;           // Error when out of range
  // Id of the token with exactly this text, or -1.
  int32_t find_token(std::string_view text) const { return vocab_.find(text); }

  int32_t bos_id() const { return bos_; }  // -1 if none
  int32_t eos_id() const { return eos_; }  // -1 if none
  int32_t unk_id() const { return unk_; }  // -1 if none

  // Ids that end generation: EOS, EOT, EOM and the end-of-turn tokens that
  // chat models use (<|eot_id|>, <|im_end|>, <end_of_turn>, ...), sorted.
  const std::vector<int32_t>& end_of_generation_ids() const { return eog_; }
  bool is_end_of_generation(int32_t id) const;

  bool is_sentencepiece() const { return spm_ != nullptr; }
  // tokenizer.ggml.pre for byte-level BPE, "" for SentencePiece.
  const std::string& pre_tokenizer() const;

 private:
  Tokenizer();
  void build_pieces();
  void find_end_of_generation(const GGUFFile& f);

  Vocab vocab_;  // the models below keep a reference to it
  std::unique_ptr<SpmModel> spm_;
  std::unique_ptr<BpeModel> bpe_;
  std::unique_ptr<PreTokenizer> pre_;
  std::unique_ptr<SpecialSplitter> special_;
  std::vector<std::string> pieces_;  // token_to_piece for every id
  std::vector<int32_t> eog_;
  int32_t bos_ = -1, eos_ = -1, unk_ = -1;
  bool add_bos_default_ = true;
  bool add_space_prefix_ = false;
};

}  // namespace lineage
