// Conversation state (turn dropping, JSON in and out, fitting the context)
// and the multi-line input rules of the chat prompt.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "chat/chat_conversation.h"
#include "chat/chat_input.h"
#include "chat/chat_prompt.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace lineage::chat {
namespace {

using ojson = nlohmann::ordered_json;

std::vector<std::string> roles(const Conversation& c) {
  std::vector<std::string> r;
  for (const auto& m : c.messages()) r.push_back(m["role"].get<std::string>() + ":" + m["content"].get<std::string>());
  return r;
}

TEST(ChatConversation, DropsOldestTurnNeverSystemNorLastUser) {
  Conversation c;
  c.set_system("S");
  c.add("user", "u1");
  c.add("assistant", "a1");
  c.add("user", "u2");
  c.add("assistant", "a2");
  c.add("user", "u3");
  EXPECT_EQ(c.drop_oldest_turn(), 2);
  EXPECT_EQ(roles(c), (std::vector<std::string>{"system:S", "user:u2", "assistant:a2", "user:u3"}));
  EXPECT_EQ(c.drop_oldest_turn(), 2);
  EXPECT_EQ(roles(c), (std::vector<std::string>{"system:S", "user:u3"}));
  EXPECT_EQ(c.drop_oldest_turn(), 0);
  EXPECT_EQ(roles(c), (std::vector<std::string>{"system:S", "user:u3"}));
  c.clear();
  EXPECT_EQ(roles(c), (std::vector<std::string>{"system:S"}));
  EXPECT_EQ(c.drop_oldest_turn(), 0);
}

TEST(ChatConversation, JsonRoundTripAndErrors) {
  Conversation c;
  c.set_system("be brief");
  c.add("user", "hi \"there\"\n");
  c.add("assistant", "\xC3\xA9t\xC3\xA9");
  Conversation d = Conversation::from_json(ojson::parse(c.to_json().dump()));
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_EQ(d.system(), "be brief");
  EXPECT_EQ(d.size(), 2u);

  const std::string path = ::testing::TempDir() + "chat_conv_roundtrip.json";
  c.save(path);
  EXPECT_EQ(Conversation::load(path).to_json(), c.to_json());
  std::remove(path.c_str());

  for (const char* bad : {R"([])", R"({"messages": 3})", R"({"messages": [3]})", R"({"messages": [{"content": "x"}]})",
                          R"({"messages": [{"role": "user", "content": 5}]})", R"({"msgs": []})"})
    EXPECT_THROW(Conversation::from_json(ojson::parse(bad)), Error) << bad;
  EXPECT_THROW(Conversation::load("/nonexistent/c.json"), Error);
  const std::string broken = ::testing::TempDir() + "chat_conv_broken.json";
  std::ofstream(broken) << "{\"messages\": [";
  EXPECT_THROW(Conversation::load(broken), Error);
  std::remove(broken.c_str());
  EXPECT_THROW(c.save("/nonexistent/dir/c.json"), Error);
}

TEST(ChatConversation, FitToContextDropsOldestTurns) {
  auto file = GGUFFile::open(std::string(LINEAGE_SHARED_DIR) + "/models/shakespeare-5M.gguf");
  auto tok = Tokenizer::from_gguf(*file);
  ChatPrompt prompt(*tok, choose_template(*file, "").source);
  Conversation c;
  c.set_system("A room in the castle.");
  const std::string line = "Speak, speak; I pray thee, speak the words again.";
  for (int i = 0; i < 6; ++i) {
    c.add("user", line);
    c.add("assistant", "I will.");
  }
  c.add("user", "And now?");
  const int full = static_cast<int>(prompt.tokens(c.messages(), true).size());

  Conversation same = c;
  FittedPrompt fp = fit_to_context(same, prompt, full + 10, 10);
  EXPECT_EQ(fp.dropped, 0);
  EXPECT_EQ(static_cast<int>(fp.tokens.size()), full);

  // One token short: the oldest turn (a user message and its answer) goes.
  fp = fit_to_context(same, prompt, full + 9, 10);
  EXPECT_EQ(fp.dropped, 2);
  EXPECT_EQ(same.size(), c.size() - 2);
  EXPECT_EQ(same.system(), c.system());
  EXPECT_EQ(fp.tokens, prompt.tokens(same.messages(), true));
  EXPECT_LE(static_cast<int>(fp.tokens.size()) + 10, full + 9);

  // Tight: only the system message and the last question stay.
  Conversation last;
  last.set_system(c.system());
  last.add("user", "And now?");
  const int minimal = static_cast<int>(prompt.tokens(last.messages(), true).size());
  fp = fit_to_context(same, prompt, minimal + 1, 10);
  EXPECT_EQ(same.to_json(), last.to_json());
  EXPECT_EQ(static_cast<int>(fp.tokens.size()), minimal);

  EXPECT_THROW(fit_to_context(same, prompt, minimal, 10), Error);
}

TEST(ChatConversation, TextIsKeptAsValidUtf8) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(to_valid_utf8("a\xC3\xA9" "b"), "a\xC3\xA9" "b");
  EXPECT_EQ(to_valid_utf8("a\x80" "b"), "a" + fffd + "b");
  EXPECT_EQ(to_valid_utf8("\xE2\x82"), fffd + fffd);  // a character cut short
  EXPECT_EQ(to_valid_utf8("\xC0\xAF"), fffd + fffd);  // overlong
  Conversation c;
  c.set_system("s\xFF");
  c.add("assistant", "\xF0\x9F\x98");
  EXPECT_EQ(c.system(), "s" + fffd);
  EXPECT_NO_THROW(c.to_json().dump());
}

std::vector<InputEntry> feed_all(InputAssembler& in, const std::vector<std::string>& lines) {
  std::vector<InputEntry> out;
  for (const auto& l : lines)
    if (in.feed(l)) out.push_back(in.take());
  return out;
}

TEST(ChatInput, LinesContinuationsAndBlocks) {
  InputAssembler in;
  auto e = feed_all(in, {"hello", "/reset", "one \\", "two\\", "three", "\"\"\"", "a", "", "  b", "\"\"\"",
                         "\"\"\"first", "last\"\"\"", "\"\"\"inline\"\"\"", "\"\"\"/save x\"\"\""});
  ASSERT_EQ(e.size(), 7u);
  EXPECT_EQ(e[0].text, "hello");
  EXPECT_FALSE(e[0].block);
  EXPECT_EQ(e[1].text, "/reset");
  EXPECT_FALSE(e[1].block);
  EXPECT_EQ(e[2].text, "one \ntwo\nthree");
  EXPECT_TRUE(e[2].block);
  EXPECT_EQ(e[3].text, "a\n\n  b");
  EXPECT_EQ(e[4].text, "first\nlast");
  EXPECT_EQ(e[5].text, "inline");
  EXPECT_EQ(e[6].text, "/save x");
  EXPECT_TRUE(e[6].block);
  EXPECT_FALSE(in.pending());
}

TEST(ChatInput, DiscardDropsHalfTypedEntries) {
  InputAssembler in;
  EXPECT_FALSE(in.feed("\"\"\"draft"));
  EXPECT_TRUE(in.pending());
  in.discard();
  EXPECT_FALSE(in.pending());
  EXPECT_FALSE(in.feed("x\\"));
  EXPECT_TRUE(in.pending());
  in.discard();
  ASSERT_TRUE(in.feed("y"));
  EXPECT_EQ(in.take().text, "y");
  EXPECT_EQ(in.take().text, "");  // nothing ready
}

}  // namespace
}  // namespace lineage::chat
