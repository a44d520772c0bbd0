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

TEST(SourceTokensTest, ScopesLimitRoutesAndKinds) {
  absl::StatusOr<SourceTokens> tokens = SourceTokens::Parse(
      "nw-app tok-nw-app-0123456789 routes=events kinds=watch_report\n"
      "council tok-council-0123456789 routes=csv,open311\n"
      "all tok-all-0123456789abcdef\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  const auto nw = tokens->Lookup("tok-nw-app-0123456789");
  ASSERT_TRUE(nw.has_value());
  EXPECT_EQ(nw->source, "nw-app");
  EXPECT_TRUE(nw->AllowsRoute(0));   // events
  EXPECT_FALSE(nw->AllowsRoute(1));  // open311
  EXPECT_FALSE(nw->AllowsRoute(2));  // csv
  EXPECT_TRUE(nw->AllowsKind(1));    // watch_report
  EXPECT_FALSE(nw->AllowsKind(3));   // recycling
  const auto council = tokens->Lookup("tok-council-0123456789");
  EXPECT_FALSE(council->AllowsRoute(0));
  EXPECT_TRUE(council->AllowsRoute(2));
  EXPECT_TRUE(council->AllowsKind(2));
  const auto all = tokens->Lookup("tok-all-0123456789abcdef");
  EXPECT_TRUE(all->AllowsRoute(1));
  EXPECT_TRUE(all->AllowsKind(3));
  for (const char* bad : {"a secret-token-0123456789 routes=everything\n",
                          "a secret-token-0123456789 kinds=litter\n",
                          "a secret-token-0123456789 colour=red\n"}) {
    absl::StatusOr<SourceTokens> parsed = SourceTokens::Parse(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(std::string(parsed.status().message()), Not(HasSubstr("secret")));
  }
}

}  // namespace
}  // namespace civicpulse::ingest
