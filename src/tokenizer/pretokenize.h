// Pre-tokenization for byte-level BPE: the text is cut into words by a list
// of regular expressions named by tokenizer.ggml.pre, and merges never cross
// a word boundary. Each expression splits every piece left by the previous
// one into its matches and the stretches between them, so no byte is lost.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lineage {

class PreTokenizer {
 public:
  // Error naming the pre-tokenizer when it is not one this library knows.
  static std::unique_ptr<PreTokenizer> create(const std::string& name);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Appends the words of text (views into it) to words.
  void split(std::string_view text, std::vector<std::string_view>& words) const;

  const std::string& name() const { return name_; }
  // Whether a word that is itself a token skips the merges (Llama 3).
  bool ignore_merges() const { return ignore_merges_; }
  // What the original tokenizer does about BOS when the file does not say.
  bool add_bos_default() const { return add_bos_; }

  // Names accepted by create(), for error messages and tests.
  static std::vector<std::string> known_names();

 private:
  PreTokenizer() = default;
  struct Compiled;
  std::string name_;
  bool ignore_merges_ = false;
  bool add_bos_ = false;
  std::vector<std::unique_ptr<Compiled>> regexes_;
};

}  // namespace lineage
