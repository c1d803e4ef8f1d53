// Turns one dataset row into prompt tokens: the row's fields (and the whole
// row as `row`) are the variables of the user's Jinja template; with chat
// on, the rendered text is the user message of the model's chat template.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_prompt.h"
#include "chat/template.h"

namespace lineage {
class Engine;
}

namespace lineage::batch {

class PromptMaker {
 public:
  // Parses the row template (Error naming the line on a syntax error).
  // chat_source: the chat template to wrap the text in, or nullopt for
  // plain completion.
  PromptMaker(const Engine& engine, const std::string& row_template, std::optional<std::string> chat_source,
              std::string system);

  // The text the row template renders for a row (Error for a template error).
  std::string render(const nlohmann::ordered_json& row) const;
  // The prompt tokens for a row.
  std::vector<int32_t> tokens(const nlohmann::ordered_json& row) const;

 private:
  const Engine& engine_;
  chat::Template row_template_;
  std::unique_ptr<chat::ChatPrompt> chat_;
  std::string system_;
};

// Parses a row template on its own, so a broken template is reported
// before the model is loaded.
void check_row_template(const std::string& source);

}  // namespace lineage::batch
