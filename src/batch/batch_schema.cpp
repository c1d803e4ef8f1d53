#include "batch/batch_schema.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/text_file.h"
#include "core/error.h"
#include "sampling/json_schema.h"

namespace lineage::batch {

AnswerSchema AnswerSchema::load(const std::string& path) {
  AnswerSchema s;
  s.schema_ = nlohmann::ordered_json::parse(read_text_file(path, "schema"), nullptr, false);
  if (s.schema_.is_discarded()) fail(path, ": the schema is not valid JSON");
  if (!s.schema_.is_object() && !s.schema_.is_boolean()) fail(path, ": a JSON Schema is an object (or a boolean)");
  return s;
}

std::string AnswerSchema::grammar() const { return json_schema_to_gbnf(schema_); }

void constrain(GenerateOptions& opt, const std::string& grammar) { opt.grammar = grammar; }

std::optional<nlohmann::ordered_json> AnswerSchema::parse(const std::string& answer, std::string* why) const {
  try {
    return nlohmann::ordered_json::parse(answer);
  } catch (const nlohmann::json::parse_error& e) {
    *why = std::string("the answer is not valid JSON (") + e.what() + ")";
    return std::nullopt;
  }
}

}  // namespace lineage::batch
