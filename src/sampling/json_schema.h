// JSON Schema -> GBNF, for structured output: every string the grammar
// accepts is a JSON document that validates against the schema, for the
// subset of JSON Schema below (anything else is an Error, never silently
// loosened, except where noted).
//
// Supported: type (one or a list; absent: inferred from the keywords, or any
// value), properties with required (in the schema's order; properties not
// required may be left out), additionalProperties (false is the default
// when properties are given; true or a schema only without properties),
// items, minItems, maxItems, enum, const, anyOf, oneOf (generated as
// anyOf: the alternatives should not overlap), allOf with one schema, $ref
// to #, #/$defs/... or #/definitions/..., minLength, maxLength, format
// (date, time, date-time, uuid, email), and for integers minimum/maximum
// (exclusive ones too) when both are given and span at most 1000 values, or
// when the lower bound is 0 or 1. Other numeric bounds are not enforced.
// Annotations (title, description, default, examples, $schema, $id,
// $comment, deprecated, readOnly, writeOnly) are ignored.
//
// Output: compact JSON with at most a space, or a newline and up to eight
// spaces, between tokens; strings hold no raw control characters and no
// \u escape of a lone surrogate, so a JSON parser counts in them exactly
// the code points the grammar did. `{"type": "object"}` alone is any JSON
// object.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace lineage {

// Properties are generated in the order the object iterates them:
// nlohmann::json sorts keys, so callers that keep the schema's own order
// parse it as ordered_json and use the second form.
std::string json_schema_to_gbnf(const nlohmann::json& schema);
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema);

}  // namespace lineage
