// Renders a template string with a JSON context (given as JSON text).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "chat/template.h"

namespace lineage::chat::test {

inline std::string render(const std::string& source, const std::string& context_json = "{}",
                          const RenderLimits& limits = {}) {
  return Template::parse(source).render(nlohmann::ordered_json::parse(context_json), limits);
}

// The message of the lineage::Error that parsing or rendering throws, or
// "no error".
inline std::string error_of(const std::string& source, const std::string& context_json = "{}",
                            const RenderLimits& limits = {}) {
  try {
    render(source, context_json, limits);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace lineage::chat::test
