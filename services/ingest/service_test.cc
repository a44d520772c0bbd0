#include "service.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace civicpulse::ingest {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'795'000'000'000;

// Stores what it is given, or fails like Kafka that does not answer.
class FakeSink : public EventSink {
 public:
  absl::Status Write(const std::vector<OutRecord>& records,
                     absl::Duration) override {
    if (!available)
      return absl::DeadlineExceededError("kafka did not acknowledge 1 of 1");
    written.insert(written.end(), records.begin(), records.end());
    return absl::OkStatus();
  }
  bool available = true;
  std::vector<OutRecord> written;
};

runtime::HttpRequest Request(std::string body, std::string content_type,
                             std::string authorization = "") {
  runtime::HttpRequest request;
  request.method = "POST";
  request.body = std::move(body);
  request.header = [content_type, authorization](const std::string& name) {
    if (name == "Content-Type") return content_type;
    if (name == "Authorization") return authorization;
    return std::string();
  };
  return request;
}

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest()
      : tokens_(*SourceTokens::Parse(
            "nw-app token-nw-app-0123456789\n"
            "scoped token-scoped-0123456789 routes=events kinds=watch_report\n")),
        metrics_(registry_, tokens_.sources()),
        service_({.max_records = 3, .now_ms = [this] { return now_ms_; }}, &tokens_,
                 &pseudonymizer_, &sink_, &metrics_) {}

  int64_t now_ms_ = kNow;

  std::string Metrics() {
    return prometheus::TextSerializer().Serialize(registry_.Collect());
  }

  static constexpr char kAuth[] = "Bearer token-nw-app-0123456789";
  static constexpr char kEvent[] =
      R"({"event_id":"e1","kind":"recycling","participant":"p-1","area":"W01",)"
      R"("occurred_at":"2026-11-16T09:00:00Z","weight_kg":1.5})";

  SourceTokens tokens_;
  Pseudonymizer pseudonymizer_{"service-test-key-0123456789"};
  prometheus::Registry registry_;
  IngestMetrics metrics_;
  FakeSink sink_;
  IngestService service_;
};

TEST_F(ServiceTest, AcceptsOnlyAfterTheSinkStoredEverything) {
  runtime::HttpResponse response;
  service_.PostEvents(
      Request(absl::StrCat("[", kEvent, ",{}]"), "application/json", kAuth),
      &response);
  EXPECT_EQ(response.status, 202);
  EXPECT_THAT(response.body, HasSubstr(R"("accepted":1,"rejected":1)"));
  ASSERT_EQ(sink_.written.size(), 2u);
  EXPECT_EQ(sink_.written[0].topic, OutTopic::kEvents);
  EXPECT_EQ(sink_.written[1].topic, OutTopic::kDeadLetter);
  const std::string metrics = Metrics();
  EXPECT_THAT(
      metrics,
      HasSubstr(
          R"(civicpulse_ingest_events_total{kind="recycling",outcome="accepted",source="nw-app"} 1)"));
  EXPECT_THAT(
      metrics,
      HasSubstr(
          R"(civicpulse_ingest_events_total{kind="unknown",outcome="rejected",source="nw-app"} 1)"));
  EXPECT_THAT(
      metrics,
      HasSubstr(
          R"(civicpulse_ingest_rejected_events_total{reason="missing_field"} 1)"));
  EXPECT_THAT(
      metrics,
      HasSubstr(
          R"(civicpulse_ingest_requests_total{code="202",route="events"} 1)"));
  EXPECT_TRUE(service_.health().ok);
}

TEST_F(ServiceTest, KafkaNotAcknowledgingIs503WithRetryAfterAndNothingCounted) {
  sink_.available = false;
  runtime::HttpResponse response;
  service_.PostEvents(Request(kEvent, "application/json", kAuth), &response);
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.headers.count("Retry-After"), 1u);
  EXPECT_FALSE(service_.health().ok);
  const std::string metrics = Metrics();
  EXPECT_THAT(
      metrics,
      HasSubstr(
          R"(civicpulse_ingest_events_total{kind="recycling",outcome="failed",source="nw-app"} 1)"));
  EXPECT_THAT(
      metrics,
      HasSubstr(
          R"(civicpulse_ingest_events_total{kind="recycling",outcome="accepted",source="nw-app"} 0)"));
  sink_.available = true;
  service_.PostEvents(Request(kEvent, "application/json", kAuth), &response);
  EXPECT_EQ(response.status, 202);
  EXPECT_TRUE(service_.health().ok);
}

TEST_F(ServiceTest, UnhealthyOnlyForRetryAfterSoTrafficCanComeBack) {
  sink_.available = false;
  runtime::HttpResponse response;
  service_.PostEvents(Request(kEvent, "application/json", kAuth), &response);
  ASSERT_EQ(response.status, 503);
  now_ms_ += 4999;  // Retry-After is 5 s
  EXPECT_FALSE(service_.health().ok);
  now_ms_ += 1;
  EXPECT_TRUE(service_.health().ok);
}

TEST_F(ServiceTest, AuthenticationLimitsAndContentTypes) {
  struct Case {
    std::string body, type, auth;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {kEvent, "application/json", "", 401},
           {kEvent, "application/json", "Bearer wrong-token-0123456789", 401},
           {kEvent, "application/json", "Basic token-nw-app-0123456789", 401},
           {kEvent, "application/json", "bearer  token-nw-app-0123456789 ",
            202},
           {kEvent, "application/json; charset=utf-8", kAuth, 202},
           {kEvent, "text/csv", kAuth, 415},
           {"not json", "application/json", kAuth, 400},
           {"{}\n{}\n{}\n{}\n", "application/x-ndjson", kAuth, 413},
       }) {
    runtime::HttpResponse response;
    service_.PostEvents(Request(c.body, c.type, c.auth), &response);
    EXPECT_EQ(response.status, c.status)
        << c.type << " " << c.auth << ": " << response.body;
    if (c.status == 401) {
      EXPECT_EQ(response.headers.count("WWW-Authenticate"), 1u);
    }
  }
  EXPECT_THAT(
      Metrics(),
      HasSubstr(
          R"(civicpulse_ingest_requests_total{code="401",route="events"} 3)"));
}

TEST_F(ServiceTest, CsvNeedsAKindAndOpen311AConfiguration) {
  runtime::HttpResponse response;
  runtime::HttpRequest request =
      Request("participant,area,occurred_at,weight_kg\n", "text/csv", kAuth);
  service_.PostCsv(request, &response);
  EXPECT_EQ(response.status, 400);
  request.params.emplace("kind", "recycling");
  service_.PostCsv(request, &response);
  EXPECT_EQ(response.status, 202) << response.body;
  EXPECT_THAT(response.body, HasSubstr(R"("accepted":0,"rejected":0)"));
  service_.PostOpen311(Request("[]", "application/json", kAuth), &response);
  EXPECT_EQ(response.status, 404);
}

TEST_F(ServiceTest, TokensAreScopedToRoutesAndKinds) {
  constexpr char kScoped[] = "Bearer token-scoped-0123456789";
  runtime::HttpResponse csv;
  runtime::HttpRequest request = Request("participant,area\n", "text/csv", kScoped);
  request.params.emplace("kind", "recycling");
  service_.PostCsv(request, &csv);
  EXPECT_EQ(csv.status, 403);
  runtime::HttpResponse events;
  service_.PostEvents(Request(kEvent, "application/json", kScoped), &events);
  EXPECT_EQ(events.status, 202);  // the route is allowed, the kind (recycling) is not
  EXPECT_THAT(events.body, HasSubstr(R"("reason":"kind_not_allowed")"));
  EXPECT_THAT(Metrics(), HasSubstr(R"(civicpulse_ingest_rejected_events_total{reason="kind_not_allowed"} 1)"));
  runtime::HttpResponse full;
  service_.PostEvents(Request(kEvent, "application/json", kAuth), &full);
  EXPECT_THAT(full.body, HasSubstr(R"("accepted":1)"));
}

}  // namespace
}  // namespace civicpulse::ingest
