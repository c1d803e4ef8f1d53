// JSON Schema -> GBNF: the grammar accepts hand-written documents that
// validate and rejects ones that do not (each case says why), and refuses
// schemas it cannot honour with an Error that says where.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "sampling/json_schema.h"

namespace lineage {
namespace {

using json = nlohmann::ordered_json;

bool accepts(const std::string& schema, const std::string& doc) {
  GrammarMatcher m(parse_grammar(json_schema_to_gbnf(json::parse(schema))));
  return m.accept(doc) && m.accepting();
}

std::string error_of(const std::string& schema) {
  try {
    json_schema_to_gbnf(json::parse(schema));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonSchema, ObjectWithRequiredAndOptionalProperties) {
  const std::string s = R"({"type":"object","properties":{
      "name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}}},
      "required":["name","tags"]})";
  EXPECT_TRUE(accepts(s, R"({"name":"Ann","age":31,"tags":[]})"));
  EXPECT_TRUE(accepts(s, R"({"name":"Ann","tags":["a","b"]})"));
  EXPECT_TRUE(accepts(s, "{ \"name\": \"A\\n\\u00e9\",\n  \"tags\": [ \"x\" ] }"));
  EXPECT_FALSE(accepts(s, R"({"name":"Ann"})"));                     // tags is required
  EXPECT_FALSE(accepts(s, R"({"tags":[],"name":"Ann"})"));           // the schema's order
  EXPECT_FALSE(accepts(s, R"({"name":"Ann","tags":[],"x":1})"));     // no additional properties
  EXPECT_FALSE(accepts(s, R"({"name":"Ann","age":3.5,"tags":[]})"));  // not an integer
  EXPECT_FALSE(accepts(s, R"({"name":"Ann","age":01,"tags":[]})"));   // not JSON
  EXPECT_FALSE(accepts(s, "{\"name\":\"a\tb\",\"tags\":[]}"));        // raw control character
  EXPECT_FALSE(accepts(s, "{\"name\":\"\\ud800\",\"tags\":[]}"));     // lone surrogate escape
  EXPECT_FALSE(accepts(s, R"({"name":"Ann",,"tags":[]})"));
}

TEST(JsonSchema, AllOptionalProperties) {
  const std::string s = R"({"type":"object","properties":{"a":{"type":"boolean"},"b":{"type":"null"},"c":{"const":7}}})";
  EXPECT_TRUE(accepts(s, "{}"));
  EXPECT_TRUE(accepts(s, R"({"b":null})"));
  EXPECT_TRUE(accepts(s, R"({"a":true,"c":7})"));
  EXPECT_TRUE(accepts(s, R"({"a":false,"b":null,"c":7})"));
  EXPECT_FALSE(accepts(s, R"({"c":8})"));
  EXPECT_FALSE(accepts(s, R"({,"b":null})"));
  EXPECT_FALSE(accepts(s, R"({"b":null,})"));
}

TEST(JsonSchema, ArraysWithCounts) {
  const std::string s = R"({"type":"array","items":{"type":"number"},"minItems":2,"maxItems":3})";
  EXPECT_TRUE(accepts(s, "[1, -2.5e3]"));
  EXPECT_TRUE(accepts(s, "[0,0.25,1E+2]"));
  EXPECT_FALSE(accepts(s, "[1]"));
  EXPECT_FALSE(accepts(s, "[1,2,3,4]"));
  EXPECT_FALSE(accepts(s, "[1,]"));
  EXPECT_FALSE(accepts(s, "[.5,1]"));
  EXPECT_TRUE(accepts(R"({"type":"array","maxItems":0})", "[]"));
  EXPECT_FALSE(accepts(R"({"type":"array","maxItems":0})", "[1]"));
}

TEST(JsonSchema, EnumConstAnyOfAndTypeLists) {
  EXPECT_TRUE(accepts(R"({"enum":["red","green",3,null]})", R"("green")"));
  EXPECT_TRUE(accepts(R"({"enum":["red","green",3,null]})", "null"));
  EXPECT_FALSE(accepts(R"({"enum":["red","green",3,null]})", R"("blue")"));
  EXPECT_TRUE(accepts(R"({"const":{"k":[1,"x"]}})", R"({"k":[1,"x"]})"));
  const std::string any = R"({"anyOf":[{"type":"integer"},{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}]})";
  EXPECT_TRUE(accepts(any, "-12"));
  EXPECT_TRUE(accepts(any, R"({"x":""})"));
  EXPECT_FALSE(accepts(any, R"("x")"));
  EXPECT_TRUE(accepts(R"({"type":["string","null"]})", "null"));
  EXPECT_TRUE(accepts(R"({"type":["string","null"]})", R"("s")"));
  EXPECT_FALSE(accepts(R"({"type":["string","null"]})", "1"));
}

TEST(JsonSchema, StringLengthsAndFormats) {
  const std::string s = R"({"type":"string","minLength":2,"maxLength":3})";
  EXPECT_TRUE(accepts(s, R"("ab")"));
  EXPECT_TRUE(accepts(s, "\"\xC3\xA9\xE2\x82\xAC\\n\""));  // three code points
  EXPECT_FALSE(accepts(s, R"("a")"));
  EXPECT_FALSE(accepts(s, R"("abcd")"));
  EXPECT_TRUE(accepts(R"({"type":"string","format":"date"})", R"("2024-02-28")"));
  EXPECT_FALSE(accepts(R"({"type":"string","format":"date"})", R"("2024-02-30")"));
  EXPECT_FALSE(accepts(R"({"type":"string","format":"date"})", R"("2024-13-01")"));
  EXPECT_TRUE(accepts(R"({"type":"string","format":"date-time"})", R"("2024-06-30T23:59:59.5+02:00")"));
  EXPECT_FALSE(accepts(R"({"type":"string","format":"date-time"})", R"("2024-06-30T24:00:00Z")"));
  EXPECT_FALSE(accepts(R"({"type":"string","format":"time"})", R"("12:00:00")"));  // needs a time zone
  EXPECT_TRUE(accepts(R"({"type":"string","format":"time"})", R"("12:00:00Z")"));
  EXPECT_TRUE(accepts(R"({"type":"string","format":"uuid"})", R"("123e4567-e89b-12d3-a456-426614174000")"));
  EXPECT_FALSE(accepts(R"({"type":"string","format":"uuid"})", R"("123e4567-e89b-12d3-a456-42661417400")"));
  EXPECT_TRUE(accepts(R"({"type":"string","format":"email"})", R"("a.b+c@mail.example.org")"));
  EXPECT_FALSE(accepts(R"({"type":"string","format":"email"})", R"("a@b")"));
  EXPECT_FALSE(accepts(R"({"type":"string","format":"email"})", R"(".a@b.org")"));
}

TEST(JsonSchema, IntegerBounds) {
  const std::string small = R"({"type":"integer","minimum":-2,"exclusiveMaximum":3})";
  for (const char* ok : {"-2", "-1", "0", "1", "2"}) EXPECT_TRUE(accepts(small, ok)) << ok;
  for (const char* bad : {"-3", "3", "10"}) EXPECT_FALSE(accepts(small, bad)) << bad;
  EXPECT_TRUE(accepts(R"({"type":"integer","minimum":0})", "0"));
  EXPECT_FALSE(accepts(R"({"type":"integer","minimum":0})", "-1"));
  EXPECT_FALSE(accepts(R"({"type":"integer","minimum":1})", "0"));
}

TEST(JsonSchema, RefsAndRecursion) {
  const std::string s = R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object",
      "properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}}})";
  EXPECT_TRUE(accepts(s, R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4}]}]})"));
  EXPECT_FALSE(accepts(s, R"({"v":1,"kids":[{"kids":[]}]})"));
  EXPECT_TRUE(accepts(R"({"definitions":{"n":{"type":"null"}},"items":{"$ref":"#/definitions/n"}})", "[null,null]"));
}

TEST(JsonSchema, AnyObjectAndMaps) {
  EXPECT_TRUE(accepts(R"({"type":"object"})", R"({"a":[1,{"b":null}],"c":"d"})"));
  EXPECT_TRUE(accepts(R"({"type":"object"})", "{}"));
  EXPECT_FALSE(accepts(R"({"type":"object"})", "[]"));
  EXPECT_TRUE(accepts(R"({"type":"object","additionalProperties":{"type":"integer"}})", R"({"a":1,"b":2})"));
  EXPECT_FALSE(accepts(R"({"type":"object","additionalProperties":{"type":"integer"}})", R"({"a":"1"})"));
  EXPECT_TRUE(accepts("true", R"([1,"2",{}])"));
}

TEST(JsonSchema, RefusesWhatItCannotHonour) {
  EXPECT_NE(error_of(R"({"type":"string","pattern":"^a$"})").find("at #: keyword 'pattern' is not supported"), std::string::npos);
  EXPECT_NE(error_of(R"({"properties":{"a":{"type":"strin"}}})").find("at #/properties/a: unknown type 'strin'"), std::string::npos);
  EXPECT_NE(error_of(R"({"$ref":"#/$defs/missing"})").find("points to nothing"), std::string::npos);
  EXPECT_NE(error_of(R"({"$ref":"http://x/y"})").find("not supported"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"string","format":"hostname"})").find("format 'hostname'"), std::string::npos);
  EXPECT_NE(error_of(R"({"properties":{"a":{}},"required":["b"]})").find("'b' is not in 'properties'"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"string","maxLength":100000})").find("above"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"array","minItems":3,"maxItems":2})").find("below"), std::string::npos);
  EXPECT_NE(error_of("false").find("matches nothing"), std::string::npos);
  EXPECT_NE(error_of("17").find("must be an object"), std::string::npos);
  EXPECT_NE(error_of(R"({"$ref":"#"})").find("usable grammar"), std::string::npos);
  EXPECT_NE(error_of(R"({"allOf":[{},{}]})").find("exactly one"), std::string::npos);
}

}  // namespace
}  // namespace lineage
