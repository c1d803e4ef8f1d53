// Fuzzes both tokenizers (SentencePiece BPE and byte-level BPE) with
// arbitrary text and arbitrary id lists, on real vocabularies. The first
// byte picks the vocabulary and the mode; the rest is the input. Checks the
// invariant the tokenizers promise: decode(encode(text)) == text when
// special tokens are not parsed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

struct Loaded {
  std::shared_ptr<const lineage::GGUFFile> file;
  std::unique_ptr<lineage::Tokenizer> tok;
  // Some byte-level vocabularies lack a token for a few bytes (falcon has
  // none for most control characters); such bytes are dropped, as the
  // reference tokenizer drops them, so only vocabularies that cover every
  // byte promise a lossless round trip.
  bool every_byte = true;
};

Loaded load(const char* name) {
  const char* dir = std::getenv("LINEAGE_SHARED_DIR");
  std::string path = std::string(dir ? dir : LINEAGE_SHARED_DIR) + "/vocab/" + name;
  Loaded l;
  l.file = lineage::GGUFFile::open(path);
  l.tok = lineage::Tokenizer::from_gguf(*l.file);
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    if (l.tok->decode(l.tok->encode(one, false, false)) != one) l.every_byte = false;
  }
  return l;
}

const std::vector<Loaded>& vocabularies() {
  static const std::vector<Loaded> v = [] {
    std::vector<Loaded> r;
    for (const char* n : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-gpt-2.gguf",
                          "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-falcon.gguf"})
      r.push_back(load(n));
    return r;
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto& vocs = vocabularies();
  const Loaded& voc = vocs[data[0] % vocs.size()];
  const auto& tok = *voc.tok;
  const int mode = (data[0] / vocs.size()) % 3;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode == 2) {
    // Arbitrary ids: out-of-range ones must be refused, never read.
    std::vector<int32_t> ids;
    for (size_t i = 1; i + 4 <= size; i += 4) {
      int32_t v;
      __builtin_memcpy(&v, data + i, 4);
      ids.push_back(v % (tok.n_vocab() + 2));
    }
    try {
      (void)tok.decode(ids);
    } catch (const lineage::Error&) {
    }
    return 0;
  }
  const bool parse_special = mode == 1;
  std::vector<int32_t> ids = tok.encode(text, false, parse_special);
  for (int32_t id : ids)
    if (id < 0 || id >= tok.n_vocab()) __builtin_trap();
  // SentencePiece writes spaces as U+2581 and decodes every U+2581 back to a
  // space, so text that already holds one cannot round-trip (nor does it in
  // SentencePiece itself).
  const bool meta_space = tok.is_sentencepiece() && text.find("\xe2\x96\x81") != std::string_view::npos;
  if (!parse_special && !meta_space && voc.every_byte) {
    std::string back = tok.decode(ids);
    if (back != text) __builtin_trap();
  }
  return 0;
}
