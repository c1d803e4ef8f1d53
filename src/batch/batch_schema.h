// --json-schema: answers constrained to a JSON Schema (through a grammar the
// scheduler honours) and parsed into JSON values for the output.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"

namespace lineage::batch {

class AnswerSchema {
 public:
  // Reads and parses the schema file. Error when it is missing, not JSON,
  // or not a schema (an object or a boolean).
  static AnswerSchema load(const std::string& path);

  const nlohmann::ordered_json& schema() const { return schema_; }
  // The grammar (GBNF, root rule `root`) that keeps generation inside the
  // schema. Error for a schema the grammar compiler does not support.
  std::string grammar() const;
  // The answer as a JSON value, or nullopt with *why set when it does not parse.
  std::optional<nlohmann::ordered_json> parse(const std::string& answer, std::string* why) const;

 private:
  nlohmann::ordered_json schema_;  // key order kept: properties are generated in it
};

// Makes a request follow the grammar.
void constrain(GenerateOptions& opt, const std::string& grammar);

}  // namespace lineage::batch
