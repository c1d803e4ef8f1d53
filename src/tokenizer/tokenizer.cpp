#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/special.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace lineage {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space
// What SentencePiece prints for the unknown token.
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";

// Token texts that end a turn in the chat formats of the model families this
// engine serves; files often name only EOS, so these are found by text.
const char* const kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|eot|>", "<|im_end|>", "<end_of_turn>", "</s>",
    "<|endoftext|>", "<|end|>", "<EOT>", "_<EOT>", "<|EOT|>", "<end_of_utterance>",
    "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>",  // DeepSeek, full-width bars (octal: a hex escape would eat "e")
};

std::string unescape_spm(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out.push_back(' ');
      i += kSpaceMark.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

// "<0xAB>" -> 0xAB; -1 when the text is not of that form.
int parse_byte_token(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = text[k];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

std::string unescape_byte_level(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8::char_len(text, i);
    // A stray byte in the token text is not one of the alphabet's characters
    // (those are all well-formed UTF-8); it is kept as written, like any other
    // character outside the alphabet.
    const bool well_formed = n > 1 || static_cast<unsigned char>(text[i]) < 0x80;
    const int b = well_formed ? codepoint_to_byte(utf8::decode_at(text, i, n)) : -1;
    if (b >= 0) out.push_back(static_cast<char>(b));
    else out.append(text, i, n);
    i += n;
  }
  return out;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GGUFFile& f) {
  const std::optional<std::string> model = f.get_string("tokenizer.ggml.model");
  if (!model) {
    if (!f.has("tokenizer.ggml.tokens")) fail(f.path(), ": no vocabulary (no tokenizer.ggml.model or tokenizer.ggml.tokens)");
    fail(f.path(), ": tokenizer.ggml.model is missing, so the tokenizer type is unknown");
  }
  if (*model != "llama" && *model != "gpt2") {
    fail(f.path(), ": unsupported tokenizer.ggml.model \"", *model,
         "\" (supported: \"llama\" for SentencePiece, \"gpt2\" for byte-level BPE)");
  }

  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->vocab_ = Vocab::from_gguf(f);
  const Vocab& v = t->vocab_;

  t->bos_ = v.read_id(f, "tokenizer.ggml.bos_token_id");
  t->eos_ = v.read_id(f, "tokenizer.ggml.eos_token_id");
  t->unk_ = v.read_id(f, "tokenizer.ggml.unknown_token_id");

  if (*model == "llama") {
    // SentencePiece's own defaults when the converter left the ids out.
    if (!f.has("tokenizer.ggml.bos_token_id")) t->bos_ = v.find("<s>");
    if (!f.has("tokenizer.ggml.eos_token_id")) t->eos_ = v.find("</s>");
    if (t->unk_ < 0) {
      for (int32_t id = 0; id < v.size() && t->unk_ < 0; ++id)
        if (v.type(id) == TokenType::Unknown) t->unk_ = id;
    }
    t->add_space_prefix_ = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    t->add_bos_default_ = true;
    t->spm_ = std::make_unique<SpmModel>(v, t->unk_);
  } else {
    const std::vector<std::string>* merges = f.get_str_array("tokenizer.ggml.merges");
    if (merges == nullptr) fail(f.path(), ": byte-level BPE vocabulary without tokenizer.ggml.merges");
    const std::string pre = f.get_string("tokenizer.ggml.pre").value_or("default");
    try {
      t->pre_ = PreTokenizer::create(pre);
    } catch (const Error& e) {
      fail(f.path(), ": ", e.what());
    }
    t->add_bos_default_ = t->pre_->add_bos_default();
    t->bpe_ = std::make_unique<BpeModel>(v, *merges, t->pre_->ignore_merges());
  }
  if (std::optional<bool> b = f.get_bool("tokenizer.ggml.add_bos_token")) t->add_bos_default_ = *b;

  t->special_ = std::make_unique<SpecialSplitter>(v);
  t->build_pieces();
  t->find_end_of_generation(f);
  return t;
}

void Tokenizer::build_pieces() {
  pieces_.resize(vocab_.size());
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    const std::string& text = vocab_.text(id);
    const TokenType type = vocab_.type(id);
    std::string& piece = pieces_[id];
    if (type == TokenType::Control) continue;
    if (spm_) {
      if (type == TokenType::Byte) {
        const int b = parse_byte_token(text);
        if (b >= 0) piece.assign(1, static_cast<char>(b));
      } else if (type == TokenType::Unknown) {
        piece = kUnknownSurface;
      } else {
        piece = unescape_spm(text);
      }
    } else {
      // Added tokens are stored as written; only learned tokens are in the
      // byte-level alphabet. Other kinds print nothing, as in the common
      // engine.
      if (type == TokenType::UserDefined) piece = text;
      else if (type == TokenType::Normal || type == TokenType::Undefined || type == TokenType::Byte) piece = unescape_byte_level(text);
    }
  }
}

void Tokenizer::find_end_of_generation(const GGUFFile& f) {
  auto add = [&](int32_t id) {
    if (id >= 0) eog_.push_back(id);
  };
  add(eos_);
  add(vocab_.read_id(f, "tokenizer.ggml.eot_token_id"));
  add(vocab_.read_id(f, "tokenizer.ggml.eom_token_id"));
  for (const char* text : kEndOfTurnTexts) {
    const int32_t id = vocab_.find(text);
    if (id < 0) continue;
    // A learned token that merely spells one of these names is ordinary
    // text, except for the <|...|> forms that no prose produces.
    const bool plain = vocab_.type(id) == TokenType::Normal || vocab_.type(id) == TokenType::Undefined;
    if (plain && std::string_view(text).substr(0, 2) != "<|") continue;
    add(id);
  }
  std::sort(eog_.begin(), eog_.end());
  eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  std::vector<Fragment> frags;
  special_->split(text, parse_special, frags);
  // A prompt that already starts with the BOS text (a chat template's
  // output, say) must not get a second BOS: models never saw two.
  bool starts_with_bos = !frags.empty() && frags.front().token >= 0 && frags.front().token == bos_;
  if (add_bos && bos_ >= 0 && !starts_with_bos) out.push_back(bos_);

  if (spm_) {
    // The space prefix goes before the text and again after every control
    // token, as the common engine does, so that a word after a control token
    // is spelled as at the start of a sentence. User-defined tokens are
    // visible text to SentencePiece, so no prefix follows them and the text
    // decodes back unchanged.
    bool after_special = true;
    std::string escaped;
    for (const Fragment& fr : frags) {
      if (fr.token >= 0) {
        out.push_back(fr.token);
        after_special = vocab_.type(fr.token) != TokenType::UserDefined;
        continue;
      }
      escaped.clear();
      if (add_space_prefix_ && after_special) escaped.append(kSpaceMark);
      for (char c : fr.text) {
        if (c == ' ') escaped.append(kSpaceMark);
        else escaped.push_back(c);
      }
      spm_->encode(escaped, out);
      after_special = false;
    }
    return out;
  }

  std::vector<std::string_view> words;
  for (const Fragment& fr : frags) {
    if (fr.token >= 0) {
      out.push_back(fr.token);
      continue;
    }
    words.clear();
    pre_->split(fr.text, words);
    bpe_->encode(words, out);
  }
  return out;
}

void Tokenizer::split_special(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  special_->split(text, parse_special, out);
}

std::string Tokenizer::token_to_piece(int32_t id) const {
  if (!vocab_.valid(id)) fail("token id ", id, " is outside the vocabulary of ", vocab_.size(), " tokens");
  return pieces_[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    if (!vocab_.valid(id)) fail("token id ", id, " is outside the vocabulary of ", vocab_.size(), " tokens");
    const TokenType type = vocab_.type(id);
    if (type == TokenType::Control) continue;
    std::string_view piece = pieces_[id];
    const bool text_token = type != TokenType::Byte && type != TokenType::Unknown;
    if (first && spm_ && add_space_prefix_ && text_token && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    first = false;
    out.append(piece);
  }
  return out;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  if (!vocab_.valid(id)) fail("token id ", id, " is outside the vocabulary of ", vocab_.size(), " tokens");
  return vocab_.text(id);
}

bool Tokenizer::is_control(int32_t id) const { return vocab_.valid(id) && vocab_.type(id) == TokenType::Control; }

TokenType Tokenizer::token_type(int32_t id) const {
  if (!vocab_.valid(id)) fail("token id ", id, " is outside the vocabulary of ", vocab_.size(), " tokens");
  return vocab_.type(id);
}

bool Tokenizer::is_end_of_generation(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

const std::string& Tokenizer::pre_tokenizer() const {
  static const std::string none;
  return pre_ ? pre_->name() : none;
}

}  // namespace lineage
