#include <gtest/gtest.h>

#include "runtime/text_stream.h"

using namespace lineage;

TEST(TextStream, NeverSplitsAUtf8Character) {
  TextStream s({});
  EXPECT_EQ(s.push("a\xC3"), "a");
  EXPECT_EQ(s.push("\xA9"), "\xC3\xA9");
  EXPECT_EQ(s.push("\xF0\x9F"), "");
  EXPECT_EQ(s.push("\x98"), "");
  EXPECT_EQ(s.push("\x80!"), "\xF0\x9F\x98\x80!");
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82\xAC"), 5u);
  EXPECT_EQ(utf8_complete_prefix("\x80\x80\x80\x80\x80"), 5u);  // stray continuation bytes pass through
}

TEST(TextStream, StopsAtAStopStringAndShowsOnlyWhatCameBefore) {
  TextStream s({"\n\n"});
  EXPECT_EQ(s.push("Hello"), "Hello");
  EXPECT_EQ(s.push(",\n"), ",");  // the newline could start the stop string
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.push("\nMore"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.stop_string(), "\n\n");
  EXPECT_EQ(s.push("x"), "");
  EXPECT_EQ(s.flush(), "");
}

TEST(TextStream, ReleasesHeldTextThatDidNotBecomeAStop) {
  TextStream s({"END", "\n\n"});
  EXPECT_EQ(s.push("the E"), "the ");
  EXPECT_EQ(s.push("N"), "");
  EXPECT_EQ(s.push("X"), "ENX");
  EXPECT_EQ(s.push("line\n"), "line");
  EXPECT_EQ(s.flush(), "\n");
}

TEST(TextStream, EarliestStopWinsWithinOnePush) {
  TextStream s({"b", "a"});
  EXPECT_EQ(s.push("xxab"), "xx");
  EXPECT_EQ(s.stop_string(), "a");
}
