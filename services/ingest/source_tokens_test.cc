#include "source_tokens.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(SourceTokensTest, ParsesLinesCommentsAndLooksUpTokens) {
  absl::StatusOr<SourceTokens> tokens = SourceTokens::Parse(
      "# source token\n"
      "nw-app   tok-nw-app-0123456789\n"
      "\n"
      "council\ttok-council-0123456789\r\n"
      "council tok-council-rotated-01\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->SourceOf("tok-nw-app-0123456789"), "nw-app");
  EXPECT_EQ(tokens->SourceOf("tok-council-0123456789"), "council");
  EXPECT_EQ(tokens->SourceOf("tok-council-rotated-01"), "council");
  EXPECT_EQ(tokens->SourceOf("tok-council-012345678"), std::nullopt);
  EXPECT_EQ(tokens->SourceOf(""), std::nullopt);
  EXPECT_THAT(tokens->sources(), ElementsAre("council", "nw-app"));
}

TEST(SourceTokensTest, RejectsBadLinesWithoutEchoingTokens) {
  for (const char* bad :
       {"", "# only a comment\n", "nw-app\n",
        "nw-app secret-token-0123456789 extra\n",
        "nw:app secret-token-0123456789\n", "nw-app short\n",
        "a secret-token-0123456789\nb secret-token-0123456789\n"}) {
    absl::StatusOr<SourceTokens> tokens = SourceTokens::Parse(bad);
    EXPECT_FALSE(tokens.ok()) << bad;
    EXPECT_THAT(std::string(tokens.status().message()),
                Not(HasSubstr("secret")));
  }
}

}  // namespace
}  // namespace civicpulse::ingest
