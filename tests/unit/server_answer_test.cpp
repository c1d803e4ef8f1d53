// Response objects: the shapes OpenAI documents for chat.completion,
// chat.completion.chunk and text_completion (whole and streamed), the
// log-probability layouts of both endpoints, tool-call deltas, usage, and
// the rendering of tools and tool results into the Llama 3.1 template.
#include <gtest/gtest.h>

#include <memory>

#include "chat/chat_prompt.h"
#include "gguf/gguf.h"
#include "server/answer.h"
#include "server/request.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace lineage::server {
namespace {

using ojson = nlohmann::ordered_json;

std::string shared(const std::string& rel) { return std::string(LINEAGE_SHARED_DIR) + "/" + rel; }

struct Vocab {
  std::unique_ptr<GGUFFile> file;
  std::unique_ptr<Tokenizer> tok;
  explicit Vocab(const std::string& rel) : file(GGUFFile::open(shared(rel))), tok(Tokenizer::from_gguf(*file)) {}
};

const Tokenizer& demo() {
  static Vocab v("models/shakespeare-5M.gguf");
  return *v.tok;
}

AnswerSetup setup(bool chat, int logprobs = -1, bool tools = false, bool usage = false) {
  AnswerSetup s;
  s.chat = chat;
  s.id = chat ? "chatcmpl-x" : "cmpl-x";
  s.created = 1700000000;
  s.model = "demo";
  s.logprobs = logprobs;
  s.tools = tools;
  s.include_usage = usage;
  return s;
}

TokenLogprob lp(const Tokenizer& tok, int32_t id, float logprob, std::vector<std::pair<int32_t, float>> top) {
  TokenLogprob t;
  t.token = id;
  t.piece = tok.token_to_piece(id);
  t.logprob = logprob;
  t.top = std::move(top);
  return t;
}

CompletionResult result(const std::string& stop, int n_prompt, int n_gen) {
  CompletionResult r;
  r.stop_reason = stop;
  r.n_prompt = n_prompt;
  r.tokens.assign(static_cast<size_t>(n_gen), 5);
  return r;
}

TEST(ServerAnswer, FinishReasons) {
  EXPECT_EQ(finish_reason("eos", false), "stop");
  EXPECT_EQ(finish_reason("stop", false), "stop");
  EXPECT_EQ(finish_reason("length", false), "length");
  EXPECT_EQ(finish_reason("context", false), "length");
  EXPECT_EQ(finish_reason("eos", true), "tool_calls");
  EXPECT_EQ(json_logprob(-std::numeric_limits<float>::infinity()), -9999.0);
  EXPECT_EQ(json_logprob(-0.5f), -0.5);
}

TEST(ServerAnswer, WholeChatWithLogprobs) {
  const Tokenizer& tok = demo();
  Answer a(setup(true, 2), tok);
  a.add("Good", {lp(tok, 300, -0.25f, {{300, -0.25f}, {301, -2.0f}, {302, -3.0f}})});
  a.add(" day", {lp(tok, 400, -1.0f, {{401, -0.5f}, {400, -1.0f}})});
  ojson o = a.final_object(result("eos", 4, 2));
  EXPECT_EQ(o["object"], "chat.completion");
  EXPECT_EQ(o["id"], "chatcmpl-x");
  EXPECT_EQ(o["model"], "demo");
  const ojson& c = o["choices"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_EQ(c["message"]["content"], "Good day");
  EXPECT_FALSE(c["message"].contains("tool_calls"));
  EXPECT_EQ(c["finish_reason"], "stop");
  const ojson& content = c["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["token"], tok.token_to_piece(300));
  EXPECT_EQ(content[0]["logprob"], -0.25);
  ASSERT_EQ(content[0]["bytes"].size(), tok.token_to_piece(300).size());
  EXPECT_EQ(content[0]["bytes"][0], static_cast<unsigned char>(tok.token_to_piece(300)[0]));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);  // top_logprobs=2 of the three given
  EXPECT_EQ(content[0]["top_logprobs"][1]["token"], tok.token_to_piece(301));
  EXPECT_EQ(content[0]["top_logprobs"][1]["logprob"], -2.0);
  EXPECT_TRUE(content[0]["top_logprobs"][1]["bytes"].is_array());
  EXPECT_EQ(o["usage"], (ojson{{"prompt_tokens", 4}, {"completion_tokens", 2}, {"total_tokens", 6}}));
}

TEST(ServerAnswer, WholeCompletionWithLogprobs) {
  const Tokenizer& tok = demo();
  Answer a(setup(false, 1), tok);
  const std::string p1 = tok.token_to_piece(300), p2 = tok.token_to_piece(400);
  a.add(p1 + p2, {lp(tok, 300, -0.25f, {{300, -0.25f}}), lp(tok, 400, -1.0f, {{401, -0.5f}})});
  ojson o = a.final_object(result("length", 3, 2));
  EXPECT_EQ(o["object"], "text_completion");
  const ojson& c = o["choices"][0];
  EXPECT_EQ(c["text"], p1 + p2);
  EXPECT_EQ(c["finish_reason"], "length");
  const ojson& l = c["logprobs"];
  EXPECT_EQ(l["tokens"], (ojson{p1, p2}));
  EXPECT_EQ(l["token_logprobs"], (ojson{-0.25, -1.0}));
  EXPECT_EQ(l["text_offset"], (ojson{0, p1.size()}));
  EXPECT_EQ(l["top_logprobs"][1], (ojson{{tok.token_to_piece(401), -0.5}}));
}

TEST(ServerAnswer, ChatStreamChunks) {
  Answer a(setup(true, -1, false, true), demo());
  std::vector<ojson> chunks;
  for (const auto& s : a.stream_piece("Good", {})) chunks.push_back(ojson::parse(s));
  for (const auto& s : a.stream_piece(" day", {})) chunks.push_back(ojson::parse(s));
  for (const auto& s : a.stream_end(result("stop", 4, 2))) chunks.push_back(ojson::parse(s));
  ASSERT_EQ(chunks.size(), 5u);  // role, two pieces, finish, usage
  for (const auto& c : chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["id"], "chatcmpl-x");
  }
  EXPECT_EQ(chunks[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(chunks[1]["choices"][0]["delta"]["content"], "Good");
  EXPECT_TRUE(chunks[1]["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(chunks[1]["usage"].is_null());  // present and null while streaming, as OpenAI sends it
  EXPECT_EQ(chunks[2]["choices"][0]["delta"]["content"], " day");
  EXPECT_EQ(chunks[3]["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(chunks[4]["choices"].is_array() && chunks[4]["choices"].empty());
  EXPECT_EQ(chunks[4]["usage"]["total_tokens"], 6);

  Answer b(setup(true), demo());
  std::vector<ojson> plain;
  for (const auto& s : b.stream_piece("x", {})) plain.push_back(ojson::parse(s));
  for (const auto& s : b.stream_end(result("eos", 1, 1))) plain.push_back(ojson::parse(s));
  ASSERT_EQ(plain.size(), 3u);  // no usage chunk unless asked
  EXPECT_FALSE(plain[1].contains("usage"));
}

TEST(ServerAnswer, StreamedToolCallsHaveIndexes) {
  Answer a(setup(true, -1, true), demo());
  std::vector<ojson> chunks;
  const std::string out = R"(<|python_tag|>{"name": "a", "parameters": {"k": 1}}; {"name": "b", "parameters": {}})";
  for (char c : out)
    for (const auto& s : a.stream_piece(std::string(1, c), {})) chunks.push_back(ojson::parse(s));
  for (const auto& s : a.stream_end(result("eos", 4, 20))) chunks.push_back(ojson::parse(s));
  std::vector<ojson> calls;
  for (const auto& c : chunks) {
    const ojson& d = c["choices"][0]["delta"];
    if (d.contains("content")) {
      EXPECT_EQ(d["content"], "") << "no call text leaks out as content";
    }
    if (d.contains("tool_calls"))
      for (const auto& t : d["tool_calls"]) calls.push_back(t);
  }
  ASSERT_EQ(calls.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(calls[i]["index"], i);
    EXPECT_EQ(calls[i]["type"], "function");
    EXPECT_EQ(calls[i]["id"].get<std::string>().substr(0, 5), "call_");
  }
  EXPECT_NE(calls[0]["id"], calls[1]["id"]);
  EXPECT_EQ(calls[0]["function"]["name"], "a");
  EXPECT_EQ(calls[0]["function"]["arguments"], R"({"k":1})");
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls");
}

TEST(ServerAnswer, WholeToolCall) {
  Answer a(setup(true, -1, true), demo());
  a.add(R"({"name": "get_weather", "parameters": {"city": "Paris"}})", {});
  ojson o = a.final_object(result("eos", 4, 12));
  const ojson& m = o["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null());
  ASSERT_EQ(m["tool_calls"].size(), 1u);
  EXPECT_FALSE(m["tool_calls"][0].contains("index"));
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], R"({"city":"Paris"})");
  EXPECT_EQ(o["choices"][0]["finish_reason"], "tool_calls");
}

// Tools, an assistant's tool call and the tool's answer rendered with the
// Llama 3.1 template, after the request parser has normalised the
// messages; expected text written from Meta's documented prompt format.
TEST(ServerAnswer, ToolsRenderIntoLlama31Template) {
  static Vocab v("vocab/ggml-vocab-llama-bpe.gguf");
  chat::ChatPrompt prompt(*v.tok, test::read_file(shared("templates/meta-llama-Llama-3.1-8B-Instruct.jinja")));
  auto parsed = parse_chat_request(
      R"({"messages":[{"role":"user","content":"Weather in Paris?"},)"
      R"({"role":"assistant","tool_calls":[{"id":"call_1","type":"function",)"
      R"("function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"18 degrees"}],)"
      R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather",)"
      R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]})",
      RequestLimits{});
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(parsed));
  const ChatRequest& r = std::get<ChatRequest>(parsed);
  const std::string text = chat::ChatPrompt::plain_text(prompt.render(r.messages, true, r.tools));
  const std::string tool_json =
      "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n"
      "        \"description\": \"Current weather\",\n        \"parameters\": {\n"
      "            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n"
      "                    \"type\": \"string\"\n                }\n            }\n        }\n    }\n}";
  const std::string expected =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
      "Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\n"
      "Given the following functions, please respond with a JSON for a function call with its proper arguments "
      "that best answers the given prompt.\n\n"
      "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}."
      "Do not use variables.\n\n" +
      tool_json + "\n\nWeather in Paris?<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n"
      "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>"
      "<|start_header_id|>ipython<|end_header_id|>\n\n\"18 degrees\"<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n";
  EXPECT_EQ(text, expected);
}

}  // namespace
}  // namespace lineage::server
