// GBNF parsing (what parses, and the line:column of what does not) and the
// matcher on hand-written strings: repetition counts, classes, multi-byte
// UTF-8 fed a byte at a time, invalid UTF-8, completion lengths.
#include <gtest/gtest.h>

#include "core/error.h"
#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"

namespace lineage {
namespace {

// Whether the whole text is a sentence of the grammar.
bool full(const std::string& gbnf, const std::string& text) {
  GrammarMatcher m(parse_grammar(gbnf));
  return m.accept(text) && m.accepting();
}

// Whether the text can still be continued into a sentence.
bool prefix(const std::string& gbnf, const std::string& text) {
  GrammarMatcher m(parse_grammar(gbnf));
  return m.accept(text);
}

std::string error_of(const std::string& gbnf) {
  try {
    parse_grammar(gbnf);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GrammarParse, LiteralsClassesAndGroups) {
  const std::string g = "root ::= greeting \" \" name  # a comment\n"
                        "greeting ::= \"hi\" | \"hello\"\n"
                        "name ::= [A-Z] [a-z]*\n";
  EXPECT_TRUE(full(g, "hi Bob"));
  EXPECT_TRUE(full(g, "hello X"));
  EXPECT_FALSE(full(g, "hello bob"));
  EXPECT_FALSE(full(g, "hey Bob"));
  EXPECT_TRUE(prefix(g, "hel"));
  EXPECT_FALSE(full(g, "hel"));
}

TEST(GrammarParse, AlternativesOnFollowingLines) {
  const std::string g = "root ::= \"a\"\n  | \"b\"  # more\n\n  | ( \"c\"\n    \"d\" )\n";
  EXPECT_TRUE(full(g, "a"));
  EXPECT_TRUE(full(g, "b"));
  EXPECT_TRUE(full(g, "cd"));
  EXPECT_FALSE(full(g, "c"));
}

TEST(GrammarParse, Escapes) {
  const std::string g = R"(root ::= "\x41\u00e9\U0001F600\n\t\\\"" [\]\-] [^\x00-\x7f])";
  EXPECT_TRUE(full(g, "A\xC3\xA9\xF0\x9F\x98\x80\n\t\\\"]\xC3\xA9"));
  EXPECT_TRUE(full(g, "A\xC3\xA9\xF0\x9F\x98\x80\n\t\\\"-\xE2\x82\xAC"));
  EXPECT_FALSE(full(g, "A\xC3\xA9\xF0\x9F\x98\x80\n\t\\\"-a"));
}

TEST(GrammarParse, Repetitions) {
  EXPECT_TRUE(full("root ::= [0-9]{2,4}", "12"));
  EXPECT_TRUE(full("root ::= [0-9]{2,4}", "1234"));
  EXPECT_FALSE(full("root ::= [0-9]{2,4}", "1"));
  EXPECT_FALSE(prefix("root ::= [0-9]{2,4}", "12345"));
  EXPECT_TRUE(full("root ::= \"ab\"{3}", "ababab"));
  EXPECT_FALSE(full("root ::= \"ab\"{3}", "abab"));
  EXPECT_TRUE(full("root ::= \"x\"{2,}", "xxxxxxxx"));
  EXPECT_FALSE(full("root ::= \"x\"{2,}", "x"));
  EXPECT_TRUE(full("root ::= \"a\"+ \"b\"? \"c\"*", "aaacc"));
  EXPECT_TRUE(full("root ::= \"a\"+ \"b\"? \"c\"*", "abc"));
  EXPECT_FALSE(full("root ::= \"a\"+ \"b\"? \"c\"*", "bc"));
  EXPECT_TRUE(full("root ::= \"a\"{0}", ""));
  EXPECT_TRUE(full("root ::= ( \"a\" | \"bc\" ){1,3} \"!\"", "bca!"));
  EXPECT_FALSE(full("root ::= ( \"a\" | \"bc\" ){1,3} \"!\"", "aaaa!"));
}

TEST(GrammarParse, AnyCharAndNegation) {
  EXPECT_TRUE(full("root ::= . .", "a\xE2\x82\xAC"));
  EXPECT_FALSE(full("root ::= . .", "a"));
  EXPECT_TRUE(full("root ::= [^a-c]+", "dz\xF0\x9F\x98\x80"));
  EXPECT_FALSE(full("root ::= [^a-c]+", "db"));
}

TEST(GrammarParse, ErrorsNameLineAndColumn) {
  EXPECT_NE(error_of("root ::= foo\n").find("line 1:10: undefined rule 'foo'"), std::string::npos) << error_of("root ::= foo\n");
  EXPECT_NE(error_of("root ::= \"a\"\nx ::= [b-a]\n").find("line 2:8: character range"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"abc").find("line 1:10: unterminated string literal"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{3,2}").find("line 1:13: repetition {3,2}"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{99999}").find("limit"), std::string::npos);
  EXPECT_NE(error_of("a ::= \"x\"").find("no rule named 'root'"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\nroot ::= \"b\"").find("line 2:1: rule 'root' is defined twice"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\" b ::= \"c\"").find("line 1:14: a new rule 'b'"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\" )").find("line 1:14: unexpected ')'"), std::string::npos);
  EXPECT_NE(error_of("root ::= (\"a\"").find("line 1:14: expected ')'"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\q\"").find("line 1:11: unknown escape"), std::string::npos);
  EXPECT_NE(error_of("root := \"a\"").find("line 1:6: expected '::='"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\xZZ\"").find("hex digits"), std::string::npos);
  EXPECT_NE(error_of(std::string("root ::= \"\xC3\"")).find("invalid UTF-8"), std::string::npos);
}

TEST(GrammarParse, RefusesLeftRecursionAndEndlessRules) {
  const std::string lr = error_of("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"\n");
  EXPECT_NE(lr.find("line 2:1: rule 'expr' is left-recursive"), std::string::npos) << lr;
  const std::string indirect = error_of("root ::= a\na ::= b? \"x\"\nb ::= \"y\" | a \"z\"\n");
  EXPECT_NE(indirect.find("left-recursive"), std::string::npos) << indirect;
  // Repeating something that can match nothing would loop without reading.
  EXPECT_NE(error_of("root ::= ( \"a\"? )*").find("left-recursive"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\" root").find("line 1:1: rule 'root' can never finish"), std::string::npos);
  // Right recursion is fine.
  EXPECT_TRUE(full("root ::= \"a\" root | \"b\"", "aaab"));
}

TEST(GrammarParse, Limits) {
  std::string deep = "root ::= ";
  for (int i = 0; i < 100; ++i) deep += "(";
  deep += "\"a\"";
  for (int i = 0; i < 100; ++i) deep += ")";
  EXPECT_NE(error_of(deep).find("nested deeper"), std::string::npos);
  // Repetitions of repetitions stay within the element limit or fail cleanly.
  const std::string big = error_of("root ::= ((((\"ab\"{4000}){4000}){4000}){4000})");
  EXPECT_TRUE(big.empty() || big.find("grammar:") != std::string::npos);
  GrammarLimits lim;
  lim.max_rules = 10;
  EXPECT_THROW(parse_grammar("root ::= [a]{0,20}", lim), Error);
}

TEST(GrammarMatcher, Utf8ByteByByte) {
  GrammarMatcher m(parse_grammar("root ::= \"\xC3\xA9\" [\xE2\x82\xAC-\xE2\x82\xAF]"));  // é then U+20AC..U+20AF
  EXPECT_EQ(m.need(), 5u);
  EXPECT_TRUE(m.accept("\xC3"));
  EXPECT_FALSE(m.accepting());
  EXPECT_EQ(m.need(), 4u);
  EXPECT_TRUE(m.accept("\xA9\xE2"));
  EXPECT_FALSE(m.accept("\x81"));  // U+2040..U+207F cannot reach the class
  EXPECT_TRUE(m.accept("\x82"));
  EXPECT_FALSE(m.accept("\xB0"));  // U+20B0 is outside
  EXPECT_TRUE(m.accept("\xAC"));
  EXPECT_TRUE(m.accepting());
  EXPECT_TRUE(m.finished());
}

TEST(GrammarMatcher, RejectsInvalidUtf8) {
  const std::string any = "root ::= .*";
  EXPECT_TRUE(prefix(any, "\xF0\x9F\x98\x80"));
  EXPECT_FALSE(prefix(any, "\xC3\x28"));          // a lead byte without its continuation
  EXPECT_FALSE(prefix(any, "\xC0\x80"));          // overlong
  EXPECT_FALSE(prefix(any, "\xE0\x80\x80"));      // overlong
  EXPECT_FALSE(prefix(any, "\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(prefix(any, "\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(prefix(any, "\x80"));              // a stray continuation byte
  EXPECT_FALSE(prefix(any, "\xFF"));
}

TEST(GrammarMatcher, NeedIsTheShortestCompletion) {
  GrammarMatcher m(parse_grammar("root ::= \"{\" item ( \",\" item )* \"}\"\nitem ::= [a-z]+ | \"\xC3\xA9\xC3\xA9\xC3\xA9\""));
  EXPECT_EQ(m.need(), 3u);  // "{a}"
  EXPECT_TRUE(m.accept("{abc"));
  EXPECT_EQ(m.need(), 1u);
  EXPECT_TRUE(m.accept(","));
  EXPECT_EQ(m.need(), 2u);
  EXPECT_TRUE(m.accept("\xC3"));
  EXPECT_EQ(m.need(), 6u);  // the rest of "ééé" and "}"
  EXPECT_TRUE(m.accept("\xA9\xC3\xA9\xC3\xA9}"));
  EXPECT_EQ(m.need(), 0u);
  EXPECT_TRUE(m.finished());
}

TEST(GrammarMatcher, AcceptingButOpen) {
  GrammarMatcher m(parse_grammar("root ::= [a-z]+"));
  EXPECT_FALSE(m.accepting());
  EXPECT_TRUE(m.accept("abc"));
  EXPECT_TRUE(m.accepting());
  EXPECT_FALSE(m.finished());
  EXPECT_FALSE(m.accept("abc1"));  // rejected bytes leave the state as it was
  EXPECT_TRUE(m.accepting());
  EXPECT_TRUE(m.accept("d"));
}

TEST(GrammarMatcher, AmbiguityAndDeepNesting) {
  const std::string g = "root ::= ( \"a\" | \"a\" \"b\" | \"ab\" )* \"c\"";
  EXPECT_TRUE(full(g, "ababaabc"));
  EXPECT_FALSE(full(g, "abb"));
  const std::string nest = "root ::= \"[\" root? \"]\"";
  std::string s(3000, '[');
  s += std::string(3000, ']');
  EXPECT_TRUE(full(nest, s));
  EXPECT_FALSE(full(nest, s + "]"));
  GrammarMatcher m(parse_grammar(nest));
  ASSERT_TRUE(m.accept(std::string(500, '[')));
  EXPECT_EQ(m.need(), 500u);
}

}  // namespace
}  // namespace lineage
