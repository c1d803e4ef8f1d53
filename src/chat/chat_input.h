// Assembles what a user types at the chat prompt into entries, line by line:
//   - a line ending in a backslash continues on the next line (the backslash
//     becomes a line break);
//   - a line starting with """ opens a block that runs until a line ending
//     with """ (text on the opening and closing lines is kept; lines are
//     joined with line breaks), so text can be pasted as is;
//   - anything else is one entry per line.
// Entries that came from a block are always message text, never commands.
#pragma once
#include <string>
#include <string_view>

namespace lineage::chat {

struct InputEntry {
  std::string text;
  bool block = false;  // came from a """ block (or a continued line) verbatim
};

class InputAssembler {
 public:
  // Adds one line (without its line break). True when an entry is complete;
  // take() then returns it.
  bool feed(std::string_view line);
  // Inside a block or after a continued line: the prompt shows "... ".
  bool pending() const { return in_block_ || continued_; }
  InputEntry take();
  // Drops a half-typed entry (Ctrl-C, or end of input inside a block).
  void discard();

 private:
  std::string text_;
  bool has_line_ = false;  // text_ holds at least one line (the next is joined with \n)
  bool in_block_ = false;
  bool continued_ = false;
  bool ready_ = false;
  bool ready_block_ = false;
};

}  // namespace lineage::chat
