#include "chat/chat_prompt.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace lineage::chat {

const std::string& fallback_template() {
  static const std::string source = R"TPL({%- for message in messages -%}
{{- '<|im_start|>' + message['role'] + '\n' -}}
{%- if message['content'] is string -%}{{- message['content'] -}}{%- endif -%}
{{- '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
)TPL";
  return source;
}

std::vector<std::string> fallback_stop_strings() { return {"<|im_end|>", "<|im_start|>"}; }

TemplateChoice choose_template(const GGUFFile& model, const std::string& override_path) {
  TemplateChoice c;
  if (!override_path.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(override_path, ec))
      fail(override_path, ": no such chat template file (or not a regular file)");
    std::ifstream f(override_path, std::ios::binary);
    std::ostringstream os;
    os << f.rdbuf();
    if (!f && !f.eof()) fail(override_path, ": cannot read the chat template file");
    c.source = os.str();
    c.origin = "file " + override_path;
    return c;
  }
  if (auto s = model.get_string("tokenizer.chat_template"); s && !s->empty()) {
    c.source = *s;
    c.origin = "model";
    return c;
  }
  c.source = fallback_template();
  c.origin = "fallback (ChatML)";
  c.is_fallback = true;
  return c;
}

ChatPrompt::ChatPrompt(const Tokenizer& tok, const std::string& template_source)
    : tok_(tok), guard_(tok), template_(Template::parse(template_source)) {
  if (tok.bos_id() >= 0) bos_text_ = tok.token_text(tok.bos_id());
  if (tok.eos_id() >= 0) eos_text_ = tok.token_text(tok.eos_id());
}

std::string ChatPrompt::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                               const nlohmann::ordered_json& tools) const {
  if (!messages.is_array()) fail("chat messages must be a JSON array");
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = guard_.mark_json(messages);
  ctx["add_generation_prompt"] = add_generation_prompt;
  ctx["bos_token"] = bos_text_;
  ctx["eos_token"] = eos_text_;
  if (!tools.is_null()) ctx["tools"] = guard_.mark_json(tools);
  return template_.render(ctx);
}

std::vector<int32_t> ChatPrompt::encode(const std::string& rendered) const {
  return guard_.encode(rendered, tok_.add_bos_default());
}

}  // namespace lineage::chat
