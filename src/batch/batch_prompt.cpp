#include "batch/batch_prompt.h"

#include "runtime/engine.h"

namespace lineage::batch {

void check_row_template(const std::string& source) { (void)chat::Template::parse(source); }

PromptMaker::PromptMaker(const Engine& engine, const std::string& row_template, std::optional<std::string> chat_source,
                         std::string system)
    : engine_(engine), row_template_(chat::Template::parse(row_template)), system_(std::move(system)) {
  if (chat_source) chat_ = std::make_unique<chat::ChatPrompt>(engine.tokenizer(), *chat_source);
}

std::string PromptMaker::render(const nlohmann::ordered_json& row) const {
  nlohmann::ordered_json ctx = row;
  ctx["row"] = row;
  return row_template_.render(ctx);
}

std::vector<int32_t> PromptMaker::tokens(const nlohmann::ordered_json& row) const {
  const std::string text = render(row);
  if (!chat_) {
    // Read exactly as `lineage run -p TEXT` reads it.
    const Tokenizer& tok = engine_.tokenizer();
    return tok.encode(text, tok.add_bos_default(), true);
  }
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!system_.empty()) messages.push_back({{"role", "system"}, {"content", system_}});
  messages.push_back({{"role", "user"}, {"content", text}});
  return chat_->tokens(messages, true);
}

}  // namespace lineage::batch
