// Chat templates: the Jinja programs shipped as tokenizer.chat_template,
// rendered exactly as Hugging Face's apply_chat_template renders them
// (Jinja2 with trim_blocks and lstrip_blocks, transformers' tojson,
// raise_exception and strftime_now).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace lineage::chat {

// Bounds that stop a hostile template; exceeding one is a lineage::Error.
struct RenderLimits {
  size_t max_output = size_t{64} << 20;  // bytes of output (and of any one string built)
  size_t max_items = 1'000'000;          // elements of any one list built
  uint64_t max_steps = 20'000'000;       // statements + loop iterations + calls
  int max_call_depth = 64;               // nested macro calls
};

class Template {
 public:
  // Parses a template; throws lineage::Error naming the unsupported or
  // invalid construct and its line ("line 12: unknown filter 'foo'").
  static Template parse(const std::string& source);

  // Renders with the members of `context` (a JSON object) as variables.
  // Throws lineage::Error for raise_exception (with its message) and for
  // runtime errors (with the line). Safe to call from several threads.
  // Dicts keep their key order (tojson output depends on it): parse the
  // context as nlohmann::ordered_json. A plain nlohmann::json works too, but
  // its keys are already sorted.
  std::string render(const nlohmann::ordered_json& context, const RenderLimits& limits = {}) const;
  std::string render(const nlohmann::json& context, const RenderLimits& limits = {}) const;

 private:
  std::shared_ptr<const struct Program> program_;
};

}  // namespace lineage::chat
