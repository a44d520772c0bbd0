#include "dead_letter_copy.h"

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::ingest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DeadLetterCopyTest : public ::testing::Test {
 protected:
  std::string P(std::string_view id) { return pseudonymizer_.Pseudonym("s", id); }
  std::string Q(std::string_view id) { return absl::StrCat("\"", P(id), "\""); }

  Pseudonymizer pseudonymizer_{"dead-letter-copy-test-key-0123"};
  DeadLetterCopy copy_{{.pseudonymizer = &pseudonymizer_,
                        .is_known_area = [](std::string_view a) { return a == "W01"; }}};
};

TEST_F(DeadLetterCopyTest, WellFormedJsonStaysJsonWithOnlyVocabularyInClear) {
  EXPECT_EQ(copy_.Json(R"({"kind":"recycling","participant":"p-1","area":"W01",)"
                       R"("occurred_at":"2026-11-22T18:04:05Z","weight_kg":4.2,"x":[true,null]})",
                       "s"),
            absl::StrCat(R"({"kind":"recycling","participant":)", Q("p-1"),
                         R"(,"area":"W01","occurred_at":"2026-11-22T18:04:05Z","weight_kg":4.2,)",
                         Q("x"), ":[true,null]}"));
}

TEST_F(DeadLetterCopyTest, EscapedKeysAreReadAndWrittenPlain) {
  // The issue: "p\u0061rticipant" kept the raw id in the copy.
  EXPECT_EQ(copy_.Json(R"({"p\u0061rticipant":"alice@example.org"})", "s"),
            absl::StrCat(R"({"participant":)", Q("alice@example.org"), "}"));
  // An escaped value is pseudonymised as its unescaped text (same pseudonym as an event's).
  EXPECT_EQ(copy_.Json(R"({"participant":"p\u002d1"})", "s"),
            absl::StrCat(R"({"participant":)", Q("p-1"), "}"));
}

TEST_F(DeadLetterCopyTest, MalformedJsonLeavesNoStringInClear) {
  // Single quotes, bare words, a missing brace, an unterminated string.
  EXPECT_EQ(copy_.Json("{'participant': 'bob-4711', kind: watch_report", "s"),
            absl::StrCat(R"({"participant": )", Q("bob-4711"), R"(, "kind": "watch_report")"));
  EXPECT_EQ(copy_.Json(R"({"participant":"carol)", "s"),
            absl::StrCat(R"({"participant":)", Q("carol")));
  EXPECT_EQ(copy_.Json("{participant:bob}", "s"),
            absl::StrCat(R"({"participant":)", Q("bob"), "}"));
}

TEST_F(DeadLetterCopyTest, LongNumbersAreIdsShortOnesAreNot) {
  EXPECT_EQ(copy_.Json(R"({"participant":447700900123,"hours":3.5,"weight_kg":1000})", "s"),
            absl::StrCat(R"({"participant":)", Q("447700900123"),
                         R"(,"hours":3.5,"weight_kg":1000})"));
}

TEST_F(DeadLetterCopyTest, CsvCellsWhereverTheyShifted) {
  // A row whose cells shifted: the id sits under "area", the area under "participant".
  EXPECT_EQ(copy_.CsvRow({"W01", "alice@example.org", "2026-11-22 18:04", "2.5", "glass"}, "s"),
            absl::StrCat("W01,", P("alice@example.org"), ",2026-11-22 18:04,2.5,glass"));
  EXPECT_EQ(copy_.CsvRow({"4711", "W02"}, "s"), absl::StrCat("4711,", P("W02")));
  EXPECT_EQ(DeadLetterCopy::CsvHeader({"Participant", " area", "alice@example.org"}),
            "participant,area,?");
}

TEST_F(DeadLetterCopyTest, CopiesStopAtTheLimit) {
  DeadLetterCopy small({.pseudonymizer = &pseudonymizer_, .max_bytes = 1000});
  const std::string big = "{" + std::string(4 << 20, ' ') + "}";
  EXPECT_LE(small.Json(big, "s").size(), 1001u);
  std::string many = "[";
  for (int i = 0; i < 100000; ++i) absl::StrAppend(&many, "\"id-", i, "\",");
  EXPECT_LE(small.Json(many, "s").size(), 1000u + 66);
}

// The issue's 4 MB line of `{` then `"participant":[` repeated took over 30 s (a scan that
// restarted from every match). One pass now.
TEST_F(DeadLetterCopyTest, LinearOnHostileRepetition) {
  DeadLetterCopy unlimited({.pseudonymizer = &pseudonymizer_, .max_bytes = size_t{1} << 30});
  std::string line = "{";
  while (line.size() < (4u << 20)) line += R"("participant":[)";
  const auto start = std::chrono::steady_clock::now();
  const std::string out = unlimited.Json(line, "s");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 3.0);
  EXPECT_THAT(out, Not(HasSubstr("p\\u0061")));
}

}  // namespace
}  // namespace civicpulse::ingest
