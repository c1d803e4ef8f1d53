// A Hugging Face tokenizer (tokenizer.json, tokenizer_config.json, and where
// present config.json and generation_config.json) turned into GGUF
// tokenizer.* metadata, as the common converter writes it:
// - byte-level BPE (Llama 3, Qwen 2, GPT-2) -> tokenizer.ggml.model "gpt2",
//   the pre-tokenizer named from its split expression, tokens and merges;
// - SentencePiece-style BPE with byte fallback (Llama 2, Mistral) ->
//   "llama", with scores taken from the merge order (a token made by an
//   earlier merge scores higher), since tokenizer.json carries none.
// Token types come from added_tokens: special -> control, others ->
// user-defined; <0xXX> pieces are bytes and the unk token is unknown.
#pragma once
#include <cstdint>
#include <string>

namespace lineage {

class GGUFWriter;

// Adds the vocabulary of dir to w. n_vocab is the model's vocabulary size
// (ids the tokenizer does not fill become unused "[PADn]" tokens), or 0 to
// take the size from the tokenizer. Returns false when dir has no
// tokenizer.json; any malformed or unsupported tokenizer is an Error.
bool add_hf_vocab(GGUFWriter& w, const std::string& dir, int64_t n_vocab);

}  // namespace lineage
