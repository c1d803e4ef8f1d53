#include "tokenizer/vocab.h"

#include "core/error.h"
#include "gguf/gguf.h"

namespace lineage {

namespace {

// FNV-1a, widened by a final mix so that the low bits used as the slot index
// depend on every byte.
uint64_t hash_text(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 32);
}

}  // namespace

Vocab Vocab::from_gguf(const GGUFFile& f) {
  const std::vector<std::string>* tokens = f.get_str_array("tokenizer.ggml.tokens");
  if (tokens == nullptr) fail(f.path(), ": no vocabulary (tokenizer.ggml.tokens is missing)");
  if (tokens->empty()) fail(f.path(), ": empty vocabulary (tokenizer.ggml.tokens has no entries)");
  // Ids are int32 everywhere downstream.
  if (tokens->size() > static_cast<size_t>(INT32_MAX)) fail(f.path(), ": vocabulary too large (", tokens->size(), " tokens)");
  const size_t n = tokens->size();

  const std::vector<double>* scores = f.get_float_array("tokenizer.ggml.scores");
  if (scores != nullptr && scores->size() != n) {
    fail(f.path(), ": tokenizer.ggml.scores has ", scores->size(), " entries for ", n, " tokens");
  }
  const std::vector<int64_t>* types = f.get_int_array("tokenizer.ggml.token_type");
  if (types != nullptr && types->size() != n) {
    fail(f.path(), ": tokenizer.ggml.token_type has ", types->size(), " entries for ", n, " tokens");
  }

  Vocab v;
  v.text_ = *tokens;
  v.score_.resize(n, 0.0f);
  v.type_.resize(n, TokenType::Normal);
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  v.slots_.assign(cap, -1);
  v.mask_ = cap - 1;
  for (size_t i = 0; i < n; ++i) {
    if (scores != nullptr) v.score_[i] = static_cast<float>((*scores)[i]);
    if (types != nullptr) {
      const int64_t t = (*types)[i];
      // Unknown type codes are treated like llama.cpp treats them: as
      // undefined tokens, which take part in nothing special.
      v.type_[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::Undefined;
    }
    // An empty token could never be produced from text; leaving it out of
    // the lookup keeps it from matching everywhere. For duplicate texts the
    // first id wins.
    if (v.text_[i].empty() || v.find(v.text_[i]) >= 0) continue;
    uint64_t slot = hash_text(v.text_[i]) & v.mask_;
    while (v.slots_[slot] >= 0) slot = (slot + 1) & v.mask_;
    v.slots_[slot] = static_cast<int32_t>(i);
  }
  return v;
}

int32_t Vocab::find(std::string_view s) const {
  if (slots_.empty()) return -1;
  for (uint64_t slot = hash_text(s) & mask_;; slot = (slot + 1) & mask_) {
    const int32_t id = slots_[slot];
    if (id < 0) return -1;
    if (text_[id] == s) return id;
  }
}

int32_t Vocab::read_id(const GGUFFile& f, const char* key) const {
  std::optional<int64_t> id = f.get_int(key);
  if (!id || *id < 0) return -1;
  // Some writers store "none" as UINT32_MAX.
  if (*id == 0xFFFFFFFFLL) return -1;
  if (*id >= size()) fail(f.path(), ": ", key, " = ", *id, " is outside the vocabulary of ", size(), " tokens");
  return static_cast<int32_t>(*id);
}

}  // namespace lineage
