#include "batch.h"

#include <string>

#include "civicpulse/core/event_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::ingest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

constexpr int64_t kNow = 1'795'000'000'000;  // 2026-11-17

class BatchTest : public ::testing::Test {
 protected:
  BatchTest() {
    mapping_.default_area = "SF-unknown";
    context_.source = "nw-app";
    context_.now_ms = kNow;
    context_.pseudonymizer = &pseudonymizer_;
    context_.max_records = 5;
    context_.max_json_depth = 8;
    context_.open311 = &mapping_;
  }

  // Decodes an accepted event record back.
  core::Event DecodeEvent(const OutRecord& record) {
    EXPECT_EQ(record.topic, OutTopic::kEvents);
    core::Event event;
    const absl::Status s = core::EventCodec().Decode(
        record.value, core::Encoding::kProtobuf, kNow, &event);
    EXPECT_TRUE(s.ok()) << s;
    return event;
  }

  static std::string Header(const OutRecord& record, const std::string& name) {
    for (const auto& [key, value] : record.headers) {
      if (key == name) return value;
    }
    return "<absent>";
  }

  Pseudonymizer pseudonymizer_{"batch-test-key-0123456789"};
  core::Open311Mapping mapping_;
  BatchContext context_;
};

constexpr char kGood[] =
    R"({"event_id":"e1","kind":"volunteer_shift","participant":"p-7","area":"W01",)"
    R"("occurred_at":"2026-11-16T09:00:00Z","hours":3.5,"source":"spoofed"})";
constexpr char kBadHours[] =
    R"({"event_id":"e2","kind":"volunteer_shift","participant":"p-secret","area":"W01",)"
    R"("occurred_at":"2026-11-16T09:00:00Z","hours":30})";

TEST_F(BatchTest, ArrayAcceptsPseudonymisesAndDeadLettersPerElement) {
  const std::string body = absl::StrCat("[", kGood, ",\n", kBadHours, ", 42]");
  absl::StatusOr<Batch> batch = EventsBatch(body, /*ndjson=*/false, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->accepted_total(), 1);
  EXPECT_EQ(batch->accepted[static_cast<int>(core::Kind::kVolunteerShift) - 1],
            1);
  ASSERT_EQ(batch->rejected.size(), 2u);
  EXPECT_EQ(batch->rejected[0].position, 1);
  EXPECT_EQ(batch->rejected[0].field, "hours");
  EXPECT_EQ(batch->rejected[0].reason, "out_of_range");
  EXPECT_EQ(batch->rejected[1].position, 2);
  EXPECT_EQ(batch->rejected[1].reason, "not_an_object");
  ASSERT_EQ(batch->records.size(), 3u);

  const OutRecord& accepted = batch->records[0];
  EXPECT_EQ(accepted.key, "W01");
  const core::Event event = DecodeEvent(accepted);
  EXPECT_EQ(event.participant, pseudonymizer_.Pseudonym("nw-app", "p-7"));
  EXPECT_EQ(event.source,
            "nw-app");  // the token decides the source, not the body
  EXPECT_EQ(accepted.value.find("p-7"), std::string::npos);

  const OutRecord& dead = batch->records[1];
  EXPECT_EQ(dead.topic, OutTopic::kDeadLetter);
  EXPECT_EQ(Header(dead, "error"), "out_of_range");
  EXPECT_THAT(Header(dead, "error-detail"), HasSubstr("hours"));
  EXPECT_EQ(Header(dead, "pseudonymised"), "strings");
  EXPECT_EQ(Header(dead, "source"), "nw-app");
  // The rejected input with every string outside the vocabulary pseudonymised.
  EXPECT_THAT(dead.value, HasSubstr(R"("kind":"volunteer_shift","participant":")" +
                                    pseudonymizer_.Pseudonym("nw-app", "p-secret") + "\""));
  EXPECT_THAT(dead.value, HasSubstr(R"("hours":30})"));
  EXPECT_THAT(dead.value, Not(HasSubstr("p-secret")));
  EXPECT_EQ(batch->records[2].value, "42");

  const std::string response = batch->ResponseJson();
  EXPECT_THAT(response, HasSubstr(R"("accepted":1,"rejected":2)"));
  EXPECT_THAT(
      response,
      HasSubstr(R"({"index":1,"field":"hours","reason":"out_of_range")"));
  EXPECT_THAT(response, Not(HasSubstr("p-secret")));
}

TEST_F(BatchTest, NdjsonCountsLinesAndSkipsBlankOnes) {
  const std::string body =
      absl::StrCat(kGood, "\r\n\n  \n", kBadHours, "\n{\"event_id\":\n");
  absl::StatusOr<Batch> batch = EventsBatch(body, /*ndjson=*/true, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->accepted_total(), 1);
  ASSERT_EQ(batch->rejected.size(), 2u);
  EXPECT_EQ(batch->rejected[0].position, 4);
  EXPECT_EQ(batch->rejected[1].position, 5);
  EXPECT_EQ(batch->rejected[1].reason, "invalid_json");
  EXPECT_THAT(batch->ResponseJson(), HasSubstr(R"({"line":4,)"));
}

TEST_F(BatchTest, SingleObjectAndUnreadableBodies) {
  absl::StatusOr<Batch> batch = EventsBatch(kGood, false, context_);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->accepted_total(), 1);
  for (const char* bad : {"", "  ", "hello", "[1,2", "\"x\"", "[{}]]"}) {
    EXPECT_EQ(EventsBatch(bad, false, context_).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(EventsBatch("\n\n", true, context_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EventsBatch("[1,2,3,4,5,6]", false, context_).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(EventsBatch("1\n2\n3\n4\n5\n6\n", true, context_).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(BatchTest, DeepNestingIsRejectedPerRecord) {
  const std::string deep = absl::StrCat("[", std::string(50, '['),
                                        std::string(50, ']'), ",", kGood, "]");
  absl::StatusOr<Batch> batch = EventsBatch(deep, false, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->accepted_total(), 1);
  ASSERT_EQ(batch->rejected.size(), 1u);
  EXPECT_EQ(batch->rejected[0].reason, "invalid_json");
  EXPECT_THAT(batch->rejected[0].detail, HasSubstr("nested deeper than 8"));
  // A single NDJSON record nested too deep: the codec's limit.
  batch =
      EventsBatch(std::string(50, '[') + std::string(50, ']'), true, context_);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->rejected[0].reason, "invalid_json");
}

// Every record of the issue whose raw id reached the DLQ: an escaped key, single quotes, a
// bare word, an unterminated string, a number; neither value nor any header may hold it.
TEST_F(BatchTest, DeadLetterCopiesNeverHoldARawId) {
  const std::string body =
      "{\"p\\u0061rticipant\":\"alice@example.org\",\"kind\":\"nope\"}\n"
      "{'participant': 'bob-4711', 'kind': 'watch_report'}\n"
      "{participant: carol-0099}\n"
      "{\"participant\":\"dave-1234\n"
      "{\"participant\":447700900123,\"kind\":\"recycling\"}\n"
      "{\"kind\":\"watch_report\",\"area\":\"erin@example.org\"}\n";
  context_.max_records = 10;
  absl::StatusOr<Batch> batch = EventsBatch(body, /*ndjson=*/true, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->rejected.size(), 6u);
  for (const OutRecord& record : batch->records) {
    std::string everything = record.value;
    for (const auto& [key, value] : record.headers) absl::StrAppend(&everything, key, value);
    for (const char* raw : {"alice", "bob-4711", "carol", "dave", "447700900123", "erin",
                            "nope"}) {
      EXPECT_THAT(everything, Not(HasSubstr(raw))) << record.value;
    }
    EXPECT_EQ(Header(record, "pseudonymised"), "strings");
  }
  EXPECT_THAT(batch->records[0].value,
              HasSubstr("\"participant\":\"" +
                        pseudonymizer_.Pseudonym("nw-app", "alice@example.org") + "\""));
  EXPECT_THAT(batch->ResponseJson(), Not(HasSubstr("alice")));
}

// A record too large for the codec is a too_large rejection whose dead letter is cut to
// fit Kafka, with the original's size and keyed digest: never a 503.
TEST_F(BatchTest, OversizedRecordsAreCutToFit) {
  const std::string big = absl::StrCat(R"({"event_id":"big","kind":"watch_report",)",
                                       R"("participant":"p-1","area":"W01","category":")",
                                       std::string(1200 * 1024, 'x'), "\"}");
  absl::StatusOr<Batch> batch = EventsBatch(big, /*ndjson=*/false, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->rejected.size(), 1u);
  EXPECT_EQ(batch->rejected[0].reason, "too_large");
  const OutRecord& dead = batch->records[0];
  EXPECT_LE(dead.value.size(), 64u * 1024);
  EXPECT_EQ(Header(dead, "original-size"), std::to_string(big.size()));
  EXPECT_EQ(Header(dead, "original-hmac-sha256"),
            pseudonymizer_.Hmac(absl::StrCat("#dead-letter:", big)));
  EXPECT_THAT(dead.value, Not(HasSubstr("p-1")));
  size_t header_bytes = 0;
  for (const auto& [key, value] : dead.headers) header_bytes += key.size() + value.size();
  EXPECT_LT(header_bytes, 1024u);
  // A copy that is itself too long (vocabulary stays in clear) is cut, and says so.
  std::string words = "[";
  while (words.size() < 1200 * 1024) words += "\"kind\",";
  words += "1]";
  batch = EventsBatch(words, /*ndjson=*/true, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->records[0].value.size(), 64u * 1024);
  EXPECT_EQ(Header(batch->records[0], "truncated"), "true");
  EXPECT_EQ(Header(batch->records[0], "original-size"), std::to_string(words.size()));
}

TEST_F(BatchTest, AreasAreCheckedAtTheEdge) {
  auto with_area = [](const std::string& area) {
    return absl::StrCat(R"({"event_id":"a","kind":"watch_report","participant":"p-1",)",
                        R"("area":")", area, R"(","occurred_at":"2026-11-16T09:00:00Z"})");
  };
  // Without an areas file: short plain names only.
  for (const std::string& bad : {std::string(300, 'a'), std::string("alice@example.org"),
                                 std::string("all"), std::string("a\\nb")}) {
    absl::StatusOr<Batch> batch = EventsBatch(with_area(bad), false, context_);
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(batch->rejected.size(), 1u) << bad;
    EXPECT_EQ(batch->rejected[0].field, "area");
    EXPECT_EQ(batch->rejected[0].reason, "invalid_value");
    EXPECT_THAT(batch->records[0].value, Not(HasSubstr("alice")));
  }
  EXPECT_EQ(EventsBatch(with_area("W05"), false, context_)->accepted_total(), 1);
  // With one: listed areas only.
  context_.is_known_area = [](std::string_view area) { return area == "W01"; };
  EXPECT_EQ(EventsBatch(with_area("W01"), false, context_)->accepted_total(), 1);
  absl::StatusOr<Batch> batch = EventsBatch(with_area("W05"), false, context_);
  ASSERT_EQ(batch->rejected.size(), 1u);
  EXPECT_EQ(batch->rejected[0].reason, "unknown_area");
  // The known area stays readable in a dead letter; an unknown one does not.
  EXPECT_THAT(batch->records[0].value, Not(HasSubstr("W05")));
}

TEST_F(BatchTest, Open311RequestsAreAnonymousWatchReports) {
  const std::string body = R"([
    {"service_request_id": "909923", "service_name": "Abandoned Vehicle", "zipcode": null,
     "requested_datetime": "2011-06-28 05:14:00", "lat": 0.0, "long": 0.0},
    {"service_request_id": "2", "requested_datetime": "never", "email": "x@example.org"}])";
  absl::StatusOr<Batch> batch = Open311Batch(body, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->accepted_total(), 1);
  const core::Event event = DecodeEvent(batch->records[0]);
  EXPECT_FALSE(event.has_participant);
  EXPECT_EQ(event.kind, core::Kind::kWatchReport);
  EXPECT_EQ(event.coproduction, core::CoproductionType::kCoAssessment);
  EXPECT_EQ(event.area, "SF-unknown");
  EXPECT_EQ(event.event_id, "open311-nw-app-909923");
  ASSERT_EQ(batch->rejected.size(), 1u);
  EXPECT_EQ(batch->rejected[0].reason, "invalid_timestamp");
  EXPECT_EQ(batch->rejected[0].field, "requested_datetime");
  EXPECT_EQ(batch->records[1].value.find("x@example.org"), std::string::npos);
  EXPECT_EQ(Header(batch->records[1], "pseudonymised"), "strings");
}

TEST_F(BatchTest, CsvRowsDeriveStableIdsAndNameLineAndColumn) {
  const std::string csv =
      "participant,area,occurred_at,weight_kg\n"
      "p-1,W01,2026-11-16T10:00:00Z,2.5\n"
      "p-secret,W01,2030-01-01T00:00:00Z,1\n"      // future
      "Smith, John,W02,2026-11-16T10:00:00Z,1\n";  // an unquoted comma: 5 cells
  absl::StatusOr<Batch> batch = CsvBatch(csv, core::Kind::kRecycling, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->accepted_total(), 1);
  const core::Event event = DecodeEvent(batch->records[0]);
  EXPECT_EQ(event.event_id.substr(0, 4), "csv-");
  EXPECT_EQ(event.event_id.size(), 36u);
  EXPECT_EQ(event.participant, pseudonymizer_.Pseudonym("nw-app", "p-1"));
  // The same file again: the same ids.
  absl::StatusOr<Batch> again = CsvBatch(csv, core::Kind::kRecycling, context_);
  EXPECT_EQ(DecodeEvent(again->records[0]).event_id, event.event_id);

  ASSERT_EQ(batch->rejected.size(), 2u);
  EXPECT_EQ(batch->rejected[0].position, 3);
  EXPECT_EQ(batch->rejected[0].column, 3);
  EXPECT_EQ(batch->rejected[0].reason, "future_timestamp");
  EXPECT_EQ(batch->rejected[1].position, 4);
  EXPECT_EQ(batch->rejected[1].reason, "invalid_csv");
  const std::string response = batch->ResponseJson();
  EXPECT_THAT(response,
              HasSubstr(R"({"line":3,"column":3,"field":"occurred_at")"));
  for (const OutRecord& record : batch->records) {
    EXPECT_EQ(record.value.find("p-secret"), std::string::npos);
    EXPECT_EQ(record.value.find("Smith"), std::string::npos);
    EXPECT_EQ(record.value.find("John"), std::string::npos);
  }
  EXPECT_THAT(batch->records[1].headers,
              ::testing::Contains(Pair("line", "3")));
  EXPECT_EQ(CsvBatch("participant\n", core::Kind::kRecycling, context_)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BatchTest, EventsAreProducedInEventTimeOrder) {
  // Newest first, as Open311's requests.json and many exports list them; a dead letter in
  // the middle keeps its place.
  const std::string body = absl::StrCat(
      R"({"event_id":"n","kind":"watch_report","participant":"p","area":"W01",)",
      R"("occurred_at":"2026-11-16T12:00:00Z"})", "\n", kBadHours, "\n",
      R"({"event_id":"m","kind":"watch_report","participant":"p","area":"W02",)",
      R"("occurred_at":"2026-11-16T10:00:00Z"})", "\n",
      R"({"event_id":"o","kind":"watch_report","participant":"p","area":"W01",)",
      R"("occurred_at":"2026-11-16T08:00:00Z"})", "\n");
  absl::StatusOr<Batch> batch = EventsBatch(body, /*ndjson=*/true, context_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->records.size(), 4u);
  EXPECT_EQ(DecodeEvent(batch->records[0]).event_id, "o");
  EXPECT_EQ(batch->records[1].topic, OutTopic::kDeadLetter);
  EXPECT_EQ(DecodeEvent(batch->records[2]).event_id, "m");
  EXPECT_EQ(DecodeEvent(batch->records[3]).event_id, "n");
  EXPECT_EQ(batch->records[2].key, "W02");
}

}  // namespace
}  // namespace civicpulse::ingest
