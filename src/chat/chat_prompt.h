// Turns a conversation (OpenAI-shaped messages) into the token ids a model
// reads: the chat template is rendered with the messages, the generation
// prompt flag, the vocabulary's BOS/EOS texts and optional tools, and the
// result is tokenized so that only the template's own text can produce
// control tokens (see chat_special.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_special.h"
#include "chat/template.h"

namespace lineage {
class GGUFFile;
class Tokenizer;
}  // namespace lineage

namespace lineage::chat {

// The template for a model that carries none: ChatML, the format most
// engines fall back to. Each message is
//   <|im_start|>ROLE\nCONTENT<|im_end|>\n
// and the generation prompt is <|im_start|>assistant\n.
const std::string& fallback_template();
// Stop strings that go with the fallback template (the model may write the
// end-of-turn marker as ordinary text when its vocabulary lacks the token).
std::vector<std::string> fallback_stop_strings();

struct TemplateChoice {
  std::string source;
  std::string origin;  // "file PATH", "model" or "fallback (ChatML)"
  bool is_fallback = false;
};

// The template to use: the file when override_path is not empty, else the
// model's tokenizer.chat_template, else the fallback. Error when the file
// cannot be read.
TemplateChoice choose_template(const GGUFFile& model, const std::string& override_path);

class ChatPrompt {
 public:
  // Parses the template (Error naming the line on a syntax error).
  ChatPrompt(const Tokenizer& tok, const std::string& template_source);

  // The rendered prompt with message text made inert (it still holds
  // marks; tokens() removes them). tools: a JSON array, or null for none.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& tools = nullptr) const;
  // Token ids of a rendered prompt. BOS is added when the vocabulary asks
  // for it and the template did not already write it.
  std::vector<int32_t> encode(const std::string& rendered) const;
  std::vector<int32_t> tokens(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                              const nlohmann::ordered_json& tools = nullptr) const {
    return encode(render(messages, add_generation_prompt, tools));
  }
  // The rendered prompt as the model reads it (marks removed).
  static std::string plain_text(const std::string& rendered) { return strip_inert_marks(rendered); }

 private:
  const Tokenizer& tok_;
  SpecialTextGuard guard_;
  Template template_;
  std::string bos_text_, eos_text_;
};

}  // namespace lineage::chat
