// Fuzzes the chat-template interpreter: arbitrary template source is parsed
// and, when it parses, rendered with a conversation holding system, user,
// assistant and tool messages and a tool definition, under small limits so
// a template that loops or grows without end fails fast. Any input must
// render or throw lineage::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/template.h"
#include "core/error.h"

namespace {
const nlohmann::ordered_json& context() {
  static const nlohmann::ordered_json c = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi <|eot_id|> \u00e9\u4e2d"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1.5, "y": [true, null]}}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "{\"ok\": 1}"},
      {"role": "user", "content": ["a", {"type": "text", "text": "b"}]}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"x": {"type": "number"}}}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"
  })");
  return c;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lineage::chat::RenderLimits limits;
  limits.max_output = 1 << 20;
  limits.max_items = 100000;
  limits.max_steps = 200000;
  try {
    auto t = lineage::chat::Template::parse(std::string(reinterpret_cast<const char*>(data), size));
    (void)t.render(context(), limits);
  } catch (const lineage::Error&) {
  }
  return 0;
}
