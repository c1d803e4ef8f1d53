// Splits special tokens written literally in the text out of it before the
// text is tokenized. User-defined tokens are always split out (as Hugging
// Face does with added tokens); control and unknown tokens only when the
// caller asks to parse special tokens, so untrusted text cannot inject them.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace lineage {

// A stretch of the input: either plain text to tokenize (token < 0) or one
// special token.
struct Fragment {
  int32_t token = -1;
  std::string_view text;
};

class SpecialSplitter {
 public:
  explicit SpecialSplitter(const Vocab& vocab);

  // Never yields an empty text fragment.
  void split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;

 private:
  struct Special {
    int32_t id;
    std::string_view text;  // points into the vocabulary
    bool always;
  };
  // Longest first: each token in turn carves its occurrences out of the text
  // that earlier (longer) ones left, which is how the common engine resolves
  // overlaps.
  std::vector<Special> specials_;
};

}  // namespace lineage
