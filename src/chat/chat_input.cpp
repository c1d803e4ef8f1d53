#include "chat/chat_input.h"

namespace lineage::chat {

namespace {
constexpr std::string_view kFence = "\"\"\"";

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}
}  // namespace

bool InputAssembler::feed(std::string_view line) {
  auto append = [this](std::string_view part) {
    if (has_line_) text_.push_back('\n');
    text_.append(part);
    has_line_ = true;
  };
  if (in_block_) {
    if (ends_with(line, kFence)) {
      line.remove_suffix(kFence.size());
      if (!line.empty()) append(line);
      in_block_ = false;
      ready_block_ = true;
      return ready_ = true;
    }
    append(line);
    return false;
  }
  if (!continued_ && line.substr(0, kFence.size()) == kFence) {
    line.remove_prefix(kFence.size());
    if (line.size() >= kFence.size() && ends_with(line, kFence)) {
      line.remove_suffix(kFence.size());
      append(line);
      ready_block_ = true;
      return ready_ = true;
    }
    if (!line.empty()) append(line);
    in_block_ = true;
    return false;
  }
  if (ends_with(line, "\\")) {
    line.remove_suffix(1);
    append(line);
    continued_ = true;
    return false;
  }
  ready_block_ = continued_;
  append(line);
  continued_ = false;
  return ready_ = true;
}

InputEntry InputAssembler::take() {
  InputEntry e;
  if (!ready_) return e;
  e.text = std::move(text_);
  e.block = ready_block_;
  discard();
  return e;
}

void InputAssembler::discard() {
  text_.clear();
  has_line_ = false;
  in_block_ = continued_ = ready_ = ready_block_ = false;
}

}  // namespace lineage::chat
