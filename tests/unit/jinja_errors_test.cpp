// Bad and hostile templates: every failure is a lineage::Error that names
// the construct and its line, never a crash, hang or runaway allocation.
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace lineage::chat::test {
namespace {

// Passes when `text` contains `part`, showing the whole text otherwise.
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

TEST(JinjaErrors, UnknownNamesAtParseTime) {
  EXPECT_EQ(error_of("ok\n{{ x | shout }}"), "line 2: unknown filter 'shout'");
  EXPECT_EQ(error_of("\n\n{% if x is loud %}{% endif %}"), "line 3: unknown test 'loud'");
  EXPECT_EQ(error_of("a\n{% include 'other.jinja' %}"), "line 2: unknown or unsupported statement 'include'");
  EXPECT_EQ(error_of("{% extends 'base' %}"), "line 1: unknown or unsupported statement 'extends'");
  // Parse errors come before rendering: the unknown filter is never reached.
  EXPECT_EQ(error_of("{% if false %}{{ x|nope }}{% endif %}"), "line 1: unknown filter 'nope'");
}

TEST(JinjaErrors, UnterminatedAndMisplaced) {
  EXPECT_EQ(error_of("{% if x %}\nabc"), "line 1: unterminated 'if' block (missing {% endif %})");
  EXPECT_EQ(error_of("x\n{% for m in messages %}{{ m }}"), "line 2: unterminated 'for' block (missing {% endfor %})");
  EXPECT_EQ(error_of("{% macro f() %}x"), "line 1: unterminated 'macro' block (missing {% endmacro %})");
  EXPECT_EQ(error_of("{% set s %}x"), "line 1: unterminated 'set' block (missing {% endset %})");
  EXPECT_EQ(error_of("a\n{{ x"), "line 2: unterminated expression (missing '}}')");
  EXPECT_EQ(error_of("{% if x"), "line 1: unterminated block tag (missing '%}')");
  EXPECT_EQ(error_of("{# never closed"), "line 1: unterminated comment");
  EXPECT_EQ(error_of("{{ 'abc }}"), "line 1: unterminated string literal");
  EXPECT_EQ(error_of("{% raw %}abc"), "line 1: unterminated raw block (missing {% endraw %})");
  EXPECT_EQ(error_of("\n{% endfor %}"), "line 2: unexpected 'endfor'");
  EXPECT_EQ(error_of("{% if x %}{% endfor %}{% endif %}"), "line 1: unexpected 'endfor'");
  EXPECT_EQ(error_of("{{ 1 + }}"), "line 1: unexpected '}}' in an expression");
  EXPECT_EQ(error_of("{{ a b }}"), "line 1: expected '}}', got 'b'");
  EXPECT_EQ(error_of("{{ x $ y }}"), "line 1: unexpected character '$' in a tag");
  EXPECT_EQ(error_of("{% for x of y %}{% endfor %}"), "line 1: expected 'in' in a for loop, got 'of'");
}

TEST(JinjaErrors, RuntimeErrorsNameTheLine) {
  EXPECT_EQ(error_of("a\n{{ raise_exception('Roles must alternate') }}"), "line 2: template error: Roles must alternate");
  EXPECT_EQ(error_of("{{ x.y }}"), "line 1: 'x' is undefined");
  EXPECT_EQ(error_of("{{ m.a.b }}", R"({"m": {}})"), "line 1: 'dict object' has no attribute 'a'");
  EXPECT_EQ(error_of("\n{{ 1 + 'a' }}"), "line 2: unsupported operand types for +: 'int' and 'str'");
  EXPECT_EQ(error_of("{{ 'a' + none }}"), "line 1: unsupported operand types for +: 'str' and 'NoneType'");
  EXPECT_EQ(error_of("{{ 'a' + x }}"), "line 1: 'x' is undefined");
  EXPECT_EQ(error_of("{% for i in 5 %}{% endfor %}"), "line 1: 'int' object is not iterable");
  EXPECT_EQ(error_of("{{ 1 // 0 }}"), "line 1: integer division or modulo by zero");
  EXPECT_EQ(error_of("{{ 'abc'.nope() }}"), "line 1: 'str object' has no method 'nope'");
  EXPECT_EQ(error_of("{{ 5() }}"), "line 1: 'int' object is not callable");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"), "line 1: integer overflow");
  EXPECT_EQ(error_of("{{ [1] < 'a' }}"), "line 1: '<' not supported between instances of 'list' and 'str'");
  EXPECT_EQ(error_of("{% set x = 1 %}{% set x.a = 2 %}"), "line 1: cannot assign attribute 'a' on 'x': not a namespace");
  EXPECT_TRUE(Contains(error_of("{% set l = [] %}{% do l.append(1) %}"), "line 1: 'append' would modify a list"));
  EXPECT_EQ(error_of("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}"), "line 1: macro 'f' takes at most 1 arguments, got 2");
  EXPECT_EQ(error_of("{{ 'x'|join(1, 2, 3) }}"), "line 1: filter 'join' takes at most 2 positional arguments, got 3");
  EXPECT_EQ(error_of("{{ [1]|tojson(indnet=2) }}"), "line 1: filter 'tojson' got an unexpected keyword argument 'indnet'");
}

TEST(JinjaErrors, HostileTemplatesHitLimits) {
  EXPECT_TRUE(Contains(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), "macro calls nested deeper than 64 levels"));
  // Doubling a string: stopped at the output limit, not at memory exhaustion.
  EXPECT_TRUE(Contains(error_of("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"), "output would exceed 67108864 bytes"));
  EXPECT_TRUE(Contains(error_of("{{ 'x' * 100000000 }}"), "output would exceed"));
  EXPECT_TRUE(Contains(error_of("{{ [0] * 100000000 }}"), "list would exceed 1000000 items"));
  EXPECT_TRUE(Contains(error_of("{{ range(100000000)|length }}"), "list would exceed 1000000 items"));
  RenderLimits small;
  small.max_output = 1000;
  small.max_steps = 100000;
  EXPECT_TRUE(Contains(error_of("{% for i in range(1000) %}{{ 'xx' }}{% endfor %}", "{}", small), "line 1: output would exceed 1000 bytes"));
  EXPECT_TRUE(Contains(error_of("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "{}", small), "template did too much work"));
  EXPECT_TRUE(Contains(error_of("{{ " + std::string(1000, '(') + "1" + std::string(1000, ')') + " }}"), "nesting deeper than 128 levels"));
  std::string deep_ifs;
  for (int k = 0; k < 1000; ++k) deep_ifs += "{% if true %}";
  EXPECT_TRUE(Contains(error_of(deep_ifs), "nesting deeper than 128 levels"));
  EXPECT_TRUE(Contains(error_of("{{ " + std::string(5000, '-') + "1 }}"), "nesting deeper than 128 levels"));
  EXPECT_TRUE(Contains(error_of("{{ " + std::string(5000, '[') + " }}"), "nesting deeper than 128 levels"));
  EXPECT_TRUE(Contains(error_of("{{ x }}", std::string(2000, '[') + std::string(2000, ']')), "must be a JSON object"));
}

TEST(JinjaErrors, ContextMustBeAnObject) {
  EXPECT_EQ(error_of("x", "[1]"), "the template context must be a JSON object");
}

}  // namespace
}  // namespace lineage::chat::test
