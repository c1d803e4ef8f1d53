// Turns the bytes of generated tokens into text that is safe to show as it
// arrives: never a partial UTF-8 character, and never text that might still
// turn out to be the start of a stop string (it is held back until it is
// known not to be one, so nothing is printed and then taken back).
#pragma once
#include <string>
#include <vector>

namespace lineage {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop_strings);
  // Adds a token's bytes; returns the text that can be shown now.
  std::string push(const std::string& bytes);
  // True once a stop string was seen; the text before it has been returned
  // and nothing after it ever will be.
  bool stopped() const { return stopped_; }
  const std::string& stop_string() const { return matched_; }
  // At the end of generation: whatever is still held back (a partial stop
  // string that never completed, or trailing bytes of a broken character).
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

// Length of the longest prefix of s that ends on a UTF-8 character boundary
// (an incomplete trailing sequence is cut off; invalid bytes pass through).
size_t utf8_complete_prefix(const std::string& s);

}  // namespace lineage
