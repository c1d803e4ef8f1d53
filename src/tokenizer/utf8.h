// UTF-8 helpers shared by the tokenizers. Text handed to a tokenizer may be
// malformed; every function here accepts any byte string and never reads past
// its end.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lineage::utf8 {

// Length of the well-formed UTF-8 sequence starting at s[pos], or 1 when the
// bytes there are not one (so a stray byte becomes a unit of its own instead
// of swallowing the characters after it).
size_t char_len(std::string_view s, size_t pos);

// Decodes the sequence at s[pos] (length from char_len); a malformed byte
// decodes to its own value, which callers only use as a lookup key.
uint32_t decode_at(std::string_view s, size_t pos, size_t len);

void append(std::string& out, uint32_t cp);

}  // namespace lineage::utf8
