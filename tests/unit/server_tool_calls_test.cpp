// Tool calls recognised in model output, fed the answers a Llama 3.1 model
// writes (canned here, since the test models never call tools): whole, and
// streamed piece by piece, where ordinary text must pass through at once and
// a call must never leak out as text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "server/tool_calls.h"

namespace lineage::server {
namespace {

nlohmann::json args(const ToolCall& c) { return nlohmann::json::parse(c.arguments); }

TEST(ToolCalls, PlainTextIsContent) {
  std::string content;
  auto calls = parse_tool_calls("The weather in Paris is mild.", &content, 1);
  EXPECT_TRUE(calls.empty());
  EXPECT_EQ(content, "The weather in Paris is mild.");
}

TEST(ToolCalls, OneCall) {
  std::string content;
  auto calls = parse_tool_calls(R"({"name": "get_weather", "parameters": {"city": "Paris", "days": 3}})", &content, 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(args(calls[0]), (nlohmann::json{{"city", "Paris"}, {"days", 3}}));
  // Arguments keep the model's key order.
  EXPECT_EQ(calls[0].arguments, R"({"city":"Paris","days":3})");
  EXPECT_EQ(content, "");
}

TEST(ToolCalls, PythonTagAndSeveralCalls) {
  std::string content;
  auto calls = parse_tool_calls(
      " <|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"arguments\": {\"x\": [1, {\"y\": \"}\"}]}}\n",
      &content, 7);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].name, "a");
  EXPECT_EQ(calls[0].arguments, "{}");
  EXPECT_EQ(calls[1].name, "b");
  EXPECT_EQ(args(calls[1])["x"][1]["y"], "}");
  EXPECT_EQ(content, "");
}

TEST(ToolCalls, IdsAreDistinctAndShaped) {
  auto calls = parse_tool_calls(R"({"name": "a", "parameters": {}}; {"name": "a", "parameters": {}})", nullptr, 3);
  ASSERT_EQ(calls.size(), 2u);
  std::set<std::string> ids;
  for (const auto& c : calls) {
    ASSERT_EQ(c.id.size(), 29u);
    EXPECT_EQ(c.id.substr(0, 5), "call_");
    for (char ch : c.id.substr(5)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch))) << c.id;
    ids.insert(c.id);
  }
  EXPECT_EQ(ids.size(), 2u);
}

TEST(ToolCalls, LookalikesStayText) {
  for (const std::string text : {std::string("{not json}"), std::string(R"({"foo": 1})"),
                                 std::string(R"({"name": 5, "parameters": {}})"),
                                 std::string(R"({"name": "f", "parameters": "x"})"),
                                 std::string(R"({"name": "f", "parameters": {"a": 1})"),  // never closed
                                 std::string("<|python_"), std::string("   "),
                                 std::string(R"(Sure: {"name": "f", "parameters": {}})")}) {
    std::string content;
    auto calls = parse_tool_calls(text, &content, 1);
    EXPECT_TRUE(calls.empty()) << text;
    EXPECT_EQ(content, text);
  }
}

TEST(ToolCalls, TextAfterACallIsContent) {
  std::string content;
  auto calls = parse_tool_calls(R"({"name": "f", "parameters": {}} and then some words)", &content, 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(content, " and then some words");
}

// Streamed one byte at a time: text is shown as it comes, calls are held
// back and each is reported when its object closes.
TEST(ToolCalls, StreamingByteByByte) {
  {
    ToolCallParser p(1);
    std::string shown;
    for (char c : std::string("Hello there")) {
      auto u = p.push(std::string(1, c));
      EXPECT_TRUE(u.calls.empty());
      shown += u.content;
      if (shown.size() > 1) EXPECT_EQ(u.content, std::string(1, c)) << "text is passed on at once";
    }
    shown += p.finish().content;
    EXPECT_EQ(shown, "Hello there");
  }
  {
    const std::string first = R"(<|python_tag|>{"name": "a", "parameters": {"q": "x; {y}"}})";
    const std::string second = R"(; {"name": "b", "parameters": {}})";
    ToolCallParser p(1);
    std::vector<ToolCall> calls;
    std::string shown;
    size_t reported_at = 0;
    const std::string all = first + second;
    for (size_t i = 0; i < all.size(); ++i) {
      auto u = p.push(all.substr(i, 1));
      shown += u.content;
      for (auto& c : u.calls) {
        calls.push_back(c);
        if (calls.size() == 1) reported_at = i + 1;
      }
    }
    auto end = p.finish();
    shown += end.content;
    for (auto& c : end.calls) calls.push_back(c);
    EXPECT_EQ(shown, "");
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(reported_at, first.size()) << "the first call is reported as soon as its object closes";
    EXPECT_EQ(calls[0].name, "a");
    EXPECT_EQ(args(calls[0])["q"], "x; {y}");
    EXPECT_EQ(calls[1].name, "b");
  }
  {
    // Held while it might be a call, released whole once it is not.
    ToolCallParser p(1);
    std::string shown;
    for (char c : std::string("{maybe} not")) shown += p.push(std::string(1, c)).content;
    shown += p.finish().content;
    EXPECT_EQ(shown, "{maybe} not");
  }
}

}  // namespace
}  // namespace lineage::server
