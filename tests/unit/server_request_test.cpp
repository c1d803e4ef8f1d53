// Request validation for the OpenAI endpoints: every accepted field lands in
// the request struct, and every malformed, mistyped, missing or
// out-of-range one is a 400 naming the field, as OpenAI's API answers.
#include <gtest/gtest.h>

#include "server/request.h"

namespace lineage::server {
namespace {

const RequestLimits kLimits{};

ChatRequest chat_ok(const std::string& body) {
  auto r = parse_chat_request(body, kLimits);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
  return std::holds_alternative<ChatRequest>(r) ? std::get<ChatRequest>(r) : ChatRequest{};
}

ApiError chat_err(const std::string& body, const RequestLimits& lim = kLimits) {
  auto r = parse_chat_request(body, lim);
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

const char* kUser = R"("messages":[{"role":"user","content":"hi"}])";

std::string with(const std::string& extra) { return std::string("{") + kUser + (extra.empty() ? "" : "," + extra) + "}"; }

TEST(ServerRequest, ChatDefaultsFollowOpenAI) {
  ChatRequest r = chat_ok(with(""));
  EXPECT_EQ(r.gen.max_tokens, -1);
  EXPECT_DOUBLE_EQ(r.gen.temperature, 1.0);
  EXPECT_DOUBLE_EQ(r.gen.top_p, 1.0);
  EXPECT_FALSE(r.gen.stream);
  EXPECT_FALSE(r.gen.seed.has_value());
  EXPECT_EQ(r.gen.logprobs, -1);
  EXPECT_TRUE(r.tools.is_null());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0]["role"], "user");
  EXPECT_EQ(r.messages[0]["content"], "hi");
}

TEST(ServerRequest, ChatFieldsAreRead) {
  ChatRequest r = chat_ok(with(
      R"("model":"m","max_tokens":7,"temperature":0,"top_p":0.5,"seed":-3,"stop":"\n","presence_penalty":1.5,)"
      R"("frequency_penalty":-0.5,"stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":20)"));
  EXPECT_EQ(r.gen.model, "m");
  EXPECT_EQ(r.gen.max_tokens, 7);
  EXPECT_DOUBLE_EQ(r.gen.temperature, 0.0);
  EXPECT_DOUBLE_EQ(r.gen.top_p, 0.5);
  EXPECT_EQ(r.gen.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(r.gen.stop, std::vector<std::string>{"\n"});
  EXPECT_DOUBLE_EQ(r.gen.presence_penalty, 1.5);
  EXPECT_DOUBLE_EQ(r.gen.frequency_penalty, -0.5);
  EXPECT_TRUE(r.gen.stream);
  EXPECT_TRUE(r.gen.include_usage);
  EXPECT_EQ(r.gen.logprobs, 20);
  // max_completion_tokens is the newer name and wins.
  EXPECT_EQ(chat_ok(with(R"("max_tokens":7,"max_completion_tokens":9)")).gen.max_tokens, 9);
  EXPECT_EQ(chat_ok(with(R"("stop":["a","bb",""])")).gen.stop, (std::vector<std::string>{"a", "bb"}));
  EXPECT_EQ(chat_ok(with(R"("logprobs":true)")).gen.logprobs, 0);
  EXPECT_EQ(chat_ok(with(R"("logprobs":false,"temperature":null)")).gen.logprobs, -1);
}

TEST(ServerRequest, MalformedBodies) {
  for (const char* body : {"", "{", "not json", "[1,2]", "\"text\"", "{\"messages\": [}", "{\"a\":1}{}"}) {
    ApiError e = chat_err(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.type, "invalid_request_error");
  }
  // Nesting deep enough to exhaust a recursive walk is refused up front.
  std::string deep = with(R"("tools":)" + std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_NE(chat_err(deep).message.find("deeper"), std::string::npos);
}

TEST(ServerRequest, WrongTypesNameTheField) {
  struct Case {
    const char* extra;
    const char* param;
  } cases[] = {
      {R"("temperature":"hot")", "temperature"},   {R"("max_tokens":1.5)", "max_tokens"},
      {R"("max_tokens":"5")", "max_tokens"},       {R"("stream":"yes")", "stream"},
      {R"("stop":5)", "stop"},                     {R"("stop":["a",1])", "stop"},
      {R"("seed":1.5)", "seed"},                   {R"("logprobs":1)", "logprobs"},
      {R"("top_p":true)", "top_p"},                {R"("stream_options":true,"stream":true)", "stream_options"},
      {R"("tools":{})", "tools"},                  {R"("tool_choice":5)", "tool_choice"},
      {R"("model":3)", "model"},
  };
  for (const auto& c : cases) {
    ApiError e = chat_err(with(c.extra));
    EXPECT_EQ(e.status, 400) << c.extra;
    EXPECT_EQ(e.param, c.param) << c.extra << " -> " << e.message;
  }
  EXPECT_EQ(chat_err(R"({"messages":"hi"})").param, "messages");
  EXPECT_EQ(chat_err(R"({"messages":[{"role":"user","content":5}]})").param, "messages[0].content");
  EXPECT_EQ(chat_err(R"({"messages":[{"role":7,"content":"x"}]})").param, "messages[0].role");
  EXPECT_EQ(chat_err(R"({"messages":["hi"]})").param, "messages[0]");
}

TEST(ServerRequest, MissingFields) {
  EXPECT_EQ(chat_err("{}").param, "messages");
  EXPECT_EQ(chat_err(R"({"messages":[]})").param, "messages");
  EXPECT_EQ(chat_err(R"({"messages":[{"content":"x"}]})").param, "messages[0].role");
  EXPECT_EQ(chat_err(R"({"messages":[{"role":"user"}]})").param, "messages[0].content");
  EXPECT_EQ(chat_err(R"({"messages":[{"role":"tool","content":"42"}]})").param, "messages[0].tool_call_id");
}

TEST(ServerRequest, OutOfRange) {
  struct Case {
    const char* extra;
    const char* param;
  } cases[] = {
      {R"("temperature":2.5)", "temperature"},       {R"("temperature":-1)", "temperature"},
      {R"("top_p":1.5)", "top_p"},                   {R"("max_tokens":0)", "max_tokens"},
      {R"("max_tokens":-4)", "max_tokens"},          {R"("max_tokens":1e30)", "max_tokens"},
      {R"("presence_penalty":3)", "presence_penalty"}, {R"("frequency_penalty":-2.5)", "frequency_penalty"},
      {R"("logprobs":true,"top_logprobs":21)", "top_logprobs"},
      {R"("top_logprobs":2)", "top_logprobs"},       {R"("n":2)", "n"},
      {R"("stream_options":{"include_usage":true})", "stream_options"},
      {R"("messages":[{"role":"wizard","content":"x"}])", "messages[0].role"},
      {R"("max_tokens":18446744073709551615)", "max_tokens"},
  };
  for (const auto& c : cases) {
    std::string body = std::string(c.extra).rfind("\"messages\"", 0) == 0 ? std::string("{") + c.extra + "}"
                                                                          : with(c.extra);
    ApiError e = chat_err(body);
    EXPECT_EQ(e.status, 400) << c.extra;
    EXPECT_EQ(e.param, c.param) << c.extra << " -> " << e.message;
  }
  EXPECT_EQ(chat_ok(with(R"("n":1)")).gen.max_tokens, -1);
  RequestLimits small;
  small.max_messages = 2;
  small.max_tokens = 100;
  EXPECT_EQ(chat_err(R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},)"
                     R"({"role":"user","content":"c"}]})",
                     small)
                .param,
            "messages");
  EXPECT_EQ(chat_err(with(R"("max_tokens":101)"), small).param, "max_tokens");
  EXPECT_EQ(chat_err(with(R"("stop":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17"])")).param,
            "stop");
}

TEST(ServerRequest, ContentPartsAndRoles) {
  ChatRequest r = chat_ok(R"({"messages":[{"role":"developer","content":"be brief"},)"
                          R"({"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]}]})");
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "one\ntwo");
  ApiError e = chat_err(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})");
  EXPECT_EQ(e.param, "messages[0].content[0].type");
}

TEST(ServerRequest, ToolsAndToolMessages) {
  ChatRequest r = chat_ok(
      R"({"messages":[{"role":"user","content":"weather?"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
      R"("function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"18C"}],)"
      R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],)"
      R"("tool_choice":{"type":"function","function":{"name":"get_weather"}}})");
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tool_choice, ToolChoice::named);
  EXPECT_EQ(r.tool_name, "get_weather");
  const auto& call = r.messages[1]["tool_calls"][0];
  EXPECT_EQ(call["id"], "call_1");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  // The arguments text is parsed, so templates print it as JSON.
  EXPECT_EQ(call["function"]["arguments"]["city"], "Paris");
  EXPECT_EQ(r.messages[1]["content"], "");
  EXPECT_EQ(r.messages[2]["tool_call_id"], "call_1");

  EXPECT_EQ(chat_ok(with(R"("tool_choice":"none")")).tool_choice, ToolChoice::none);
  EXPECT_EQ(chat_err(with(R"("tool_choice":"required")")).param, "tool_choice");
  EXPECT_EQ(chat_err(with(R"("tool_choice":"sometimes","tools":[{"type":"function","function":{"name":"f"}}])")).param,
            "tool_choice");
  EXPECT_EQ(chat_err(with(R"("tools":[{"type":"function","function":{"name":"f"}}],)"
                          R"("tool_choice":{"type":"function","function":{"name":"g"}})"))
                .param,
            "tool_choice");
  EXPECT_EQ(chat_err(with(R"("tools":[{"type":"retrieval"}])")).param, "tools[0].type");
  EXPECT_EQ(chat_err(with(R"("tools":[{"type":"function","function":{"description":"no name"}}])")).param,
            "tools[0].function.name");
  EXPECT_EQ(chat_err(with(R"("tools":[{"type":"function","function":{"name":"f","parameters":[]}}])")).param,
            "tools[0].function.parameters");
}

TEST(ServerRequest, Completions) {
  auto ok = [](const std::string& body) {
    auto r = parse_completion_request(body, kLimits);
    if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
    return std::holds_alternative<CompletionTextRequest>(r) ? std::get<CompletionTextRequest>(r)
                                                            : CompletionTextRequest{};
  };
  auto err = [](const std::string& body) {
    auto r = parse_completion_request(body, kLimits);
    EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
    return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
  };
  CompletionTextRequest a = ok(R"({"prompt":"ROMEO:","max_tokens":5,"logprobs":3})");
  EXPECT_EQ(a.prompt, "ROMEO:");
  EXPECT_FALSE(a.prompt_is_ids);
  EXPECT_EQ(a.gen.logprobs, 3);
  EXPECT_EQ(ok(R"({"prompt":["ROMEO:"]})").prompt, "ROMEO:");
  CompletionTextRequest ids = ok(R"({"prompt":[1,870,983]})");
  EXPECT_TRUE(ids.prompt_is_ids);
  EXPECT_EQ(ids.prompt_ids, (std::vector<int32_t>{1, 870, 983}));
  EXPECT_EQ(ok(R"({"prompt":"x","logprobs":0})").gen.logprobs, 0);
  EXPECT_EQ(err(R"({"max_tokens":5})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":""})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":["a","b"]})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":[1,-2]})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":7})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":"x","logprobs":6})").param, "logprobs");
  EXPECT_EQ(err(R"({"prompt":"x","logprobs":true})").param, "logprobs");
  EXPECT_EQ(err(R"({"prompt":"x","echo":true})").param, "echo");
  EXPECT_EQ(err(R"({"prompt":"x","best_of":3})").param, "best_of");
}

TEST(ServerRequest, Embeddings) {
  auto ok = [](const std::string& body) {
    auto r = parse_embedding_request(body, kLimits);
    if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
    return std::holds_alternative<EmbeddingRequest>(r) ? std::get<EmbeddingRequest>(r) : EmbeddingRequest{};
  };
  auto err = [](const std::string& body) {
    auto r = parse_embedding_request(body, kLimits);
    EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
    return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
  };
  EXPECT_EQ(ok(R"({"input":"hello"})").texts, std::vector<std::string>{"hello"});
  EXPECT_EQ(ok(R"({"input":["a","b"],"model":"m"})").texts, (std::vector<std::string>{"a", "b"}));
  EmbeddingRequest ids = ok(R"({"input":[[1,2],[3]]})");
  EXPECT_TRUE(ids.inputs_are_ids);
  EXPECT_EQ(ids.ids.size(), 2u);
  EXPECT_EQ(err(R"({})").param, "input");
  EXPECT_EQ(err(R"({"input":""})").param, "input");
  EXPECT_EQ(err(R"({"input":[]})").param, "input");
  EXPECT_EQ(err(R"({"input":["a",2]})").param, "input");
  EXPECT_EQ(err(R"({"input":{"text":"a"}})").param, "input");
  EXPECT_EQ(err(R"({"input":"a","encoding_format":"hex"})").param, "encoding_format");
}

TEST(ServerRequest, ErrorShape) {
  ApiError e = chat_err(with(R"("n":3)"));
  auto j = e.to_json();
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_TRUE(j["error"]["message"].is_string());
}

}  // namespace
}  // namespace lineage::server
