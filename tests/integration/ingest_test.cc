// civicpulse-ingest as a real process: real HTTP on a port chosen by the
// kernel, records on an embedded Kafka-protocol broker over TCP, read back with
// a consumer.
#include <fcntl.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/kafka/embedded_broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "child_process.h"

namespace civicpulse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEvents[] = "civicpulse.events.v1";
constexpr char kDlq[] = "civicpulse.events.dlq.v1";
constexpr char kKey[] = "integration-test-key-0123456789abcdef";
constexpr char kToken[] = "tok-nw-app-0123456789abcdef";
constexpr char kCouncilToken[] = "tok-council-0123456789abcdef";

using civicpulse::testing::ChildProcess;
using civicpulse::testing::ReadFile;

// What the ingest must put in place of a raw id: computed here independently.
std::string ExpectedPseudonym(const std::string& source,
                              const std::string& id) {
  const std::string message = source + ":" + id;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kKey, static_cast<int>(strlen(kKey)),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i)
    absl::StrAppend(&hex, absl::Hex(digest[i], absl::kZeroPad2));
  return hex;
}

// A civicpulse-ingest process.
class Ingest : public ChildProcess {
 public:
  explicit Ingest(std::vector<std::string> args)
      : ChildProcess(CIVICPULSE_INGEST_BIN, std::move(args)) {}

  // Waits for "listening on port N" on stderr; 0 when the process exited or
  // never said so.
  int Port() {
    for (int i = 0; i < 600; ++i) {
      const std::string text = err();
      if (const size_t at = text.find("listening on port ");
          at != std::string::npos) {
        int port = 0;
        const std::string rest =
            text.substr(at + 18, text.find(' ', at + 18) - at - 18);
        if (absl::SimpleAtoi(rest, &port)) return port;
      }
      if (!Running()) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  }
};

struct Record {
  std::string key, value;
  std::map<std::string, std::string> headers;
};

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/civicpulse-ingest-test.XXXXXX";
    dir_ = mkdtemp(dir);
    std::ofstream(dir_ + "/key") << kKey << "\n";
    std::ofstream(dir_ + "/tokens") << "# source token\nnw-app " << kToken
                                    << "\ncouncil " << kCouncilToken << "\n";
    auto broker = kafka::EmbeddedBroker::Start(
        {.partitions = 4, .topics = {kEvents, kDlq}});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> Args(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--brokers",
                                     broker_->bootstrap_servers(),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--tokens-file",
                                     dir_ + "/tokens",
                                     "--pseudonym-key-file",
                                     dir_ + "/key",
                                     "--open311-config",
                                     CIVICPULSE_OPEN311_SF_CONFIG};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static httplib::Headers Auth(const std::string& token = kToken) {
    return {{"Authorization", "Bearer " + token}};
  }

  // Reads `topic` from the start until `n` records arrived (or 30 s passed).
  std::vector<Record> Consume(const std::string& topic, size_t n) {
    std::vector<Record> records;
    auto consumer = kafka::Consumer::Create(
        {.brokers = broker_->bootstrap_servers()}, {.topics = {topic}});
    EXPECT_TRUE(consumer.ok()) << consumer.status();
    if (!consumer.ok()) return records;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (records.size() < n && absl::Now() < deadline) {
      auto batch = (*consumer)->Poll(absl::Milliseconds(200));
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok()) break;
      for (const kafka::ConsumerRecord& r : **batch) {
        Record record{std::string(r.key), std::string(r.value), {}};
        for (const char* name :
             {"error", "error-detail", "pseudonymised", "source",
              "content-type", "csv-header", "line"}) {
          if (auto value = r.Header(name))
            record.headers[name] = std::string(*value);
        }
        records.push_back(std::move(record));
      }
    }
    (*consumer)->Close();
    return records;
  }

  // Records on `topic` (sum of the high watermarks of its 4 partitions).
  int64_t TopicSize(const std::string& topic) {
    auto consumer = kafka::Consumer::Create(
        {.brokers = broker_->bootstrap_servers()}, {.topics = {topic}});
    EXPECT_TRUE(consumer.ok()) << consumer.status();
    if (!consumer.ok()) return -1;
    int64_t total = 0;
    absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> marks =
        (*consumer)->QueryWatermarks(topic, {0, 1, 2, 3}, absl::Seconds(10));
    EXPECT_TRUE(marks.ok()) << marks.status();
    if (marks.ok()) {
      for (const auto& [earliest, log_end] : *marks) total += log_end;
    }
    (*consumer)->Close();
    return total;
  }

  static core::Event Decode(const Record& record) {
    core::Event event;
    const absl::Status s =
        core::EventCodec().Decode(record.value, core::Encoding::kProtobuf,
                                  absl::ToUnixMillis(absl::Now()), &event);
    EXPECT_TRUE(s.ok()) << s;
    return event;
  }

  std::string dir_;
  std::unique_ptr<kafka::EmbeddedBroker> broker_;
};

std::string Event(const std::string& id, const std::string& participant,
                  const std::string& area,
                  const std::string& extra = R"("hours":2)") {
  return absl::StrCat(R"({"event_id":")", id,
                      R"(","kind":"volunteer_shift","participant":")",
                      participant, R"(","area":")", area,
                      R"(","occurred_at":"2026-01-05T09:00:00Z",)", extra, "}");
}

TEST_F(IngestTest, EventsArePseudonymisedAndNoRawIdReachesKafkaLogsOrMetrics) {
  Ingest ingest(Args());
  const int port = ingest.Port();
  ASSERT_GT(port, 0) << ingest.err();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);

  // A JSON array: 2 good, 1 out of range, 1 not even JSON.
  const std::string array = absl::StrCat(
      "[", Event("e-1", "raw-alice-1", "W01"), ",",
      Event("e-2", "raw-bob-2", "W02"), ",",
      Event("e-3", "raw-carol-3", "W01", R"("hours":99)"), ",",
      R"({"event_id":"e-4","participant":"raw-dave-4","area":})", "]");
  auto response = client.Post("/v1/events", Auth(), array, "application/json");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 202) << response->body;
  EXPECT_THAT(response->body, HasSubstr(R"("accepted":2,"rejected":2)"));
  EXPECT_THAT(
      response->body,
      HasSubstr(R"({"index":2,"field":"hours","reason":"out_of_range")"));
  EXPECT_THAT(response->body,
              HasSubstr(R"({"index":3,"field":"","reason":"invalid_json")"));

  // NDJSON from another source: 1 good, 1 with an escaped participant key and a
  // bad kind.
  const std::string ndjson = absl::StrCat(
      Event("e-5", "raw-erin-5", "W03"), "\n\n",
      R"({"event_id":"e-6","kind":"picnic","particip\u0061nt":"raw-frank-6","area":"W03"})",
      "\n");
  response = client.Post("/v1/events", Auth(kCouncilToken), ndjson,
                         "application/x-ndjson");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 202) << response->body;
  EXPECT_THAT(
      response->body,
      HasSubstr(
          R"("accepted":1,"rejected":1,"errors":[{"line":3,"field":"kind")"));

  const std::vector<Record> events = Consume(kEvents, 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(TopicSize(kEvents), 3);
  std::map<std::string, core::Event> by_id;
  for (const Record& record : events) {
    core::Event event = Decode(record);
    EXPECT_EQ(record.key, event.area);
    by_id[event.event_id] = event;
  }
  EXPECT_EQ(by_id["e-1"].participant,
            ExpectedPseudonym("nw-app", "raw-alice-1"));
  EXPECT_EQ(by_id["e-2"].participant, ExpectedPseudonym("nw-app", "raw-bob-2"));
  EXPECT_EQ(by_id["e-5"].participant,
            ExpectedPseudonym("council", "raw-erin-5"));
  EXPECT_EQ(by_id["e-5"].source, "council");

  const std::vector<Record> dead = Consume(kDlq, 3);
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_EQ(TopicSize(kDlq), 3);
  std::multiset<std::string> errors;
  for (const Record& record : dead) {
    errors.insert(record.headers.at("error"));
    EXPECT_FALSE(record.headers.at("error-detail").empty());
    EXPECT_EQ(record.headers.at("pseudonymised"), "strings");
  }
  EXPECT_EQ(errors, (std::multiset<std::string>{"out_of_range", "invalid_json",
                                                "invalid_value"}));

  // No raw participant id anywhere: keys, values and headers of both topics,
  // the log, the metrics.
  httplib::Client metrics_client("127.0.0.1", port);
  auto metrics = metrics_client.Get("/metrics");
  ASSERT_TRUE(metrics);
  std::string everything = ingest.err() + metrics->body;
  for (const std::vector<Record>* topic : {&events, &dead}) {
    for (const Record& record : *topic) {
      absl::StrAppend(&everything, record.key, record.value);
      for (const auto& [name, value] : record.headers)
        absl::StrAppend(&everything, name, value);
    }
  }
  for (const char* raw : {"raw-alice-1", "raw-bob-2", "raw-carol-3",
                          "raw-dave-4", "raw-erin-5", "raw-frank-6", "raw-"}) {
    EXPECT_THAT(everything, Not(HasSubstr(raw)));
  }
  EXPECT_THAT(
      metrics->body,
      HasSubstr(
          R"(civicpulse_ingest_events_total{kind="volunteer_shift",outcome="accepted",source="nw-app"} 2)"));
  EXPECT_THAT(
      metrics->body,
      HasSubstr(
          R"(civicpulse_ingest_rejected_events_total{reason="invalid_json"} 1)"));
  EXPECT_THAT(
      metrics->body,
      HasSubstr(
          R"(civicpulse_ingest_request_duration_seconds_count{route="events"} 2)"));

  // The exposition is promtool-clean.
  const std::string metrics_file = dir_ + "/metrics.txt";
  std::ofstream(metrics_file) << metrics->body;
  EXPECT_EQ(std::system(("promtool check metrics < " + metrics_file + " > " +
                         dir_ + "/promtool.out 2>&1")
                            .c_str()),
            0)
      << ReadFile(dir_ + "/promtool.out");

  ingest.Signal(SIGTERM);
  EXPECT_EQ(ingest.Wait(), 0) << ingest.err();
}

TEST_F(IngestTest, SanFranciscoSampleIsAcceptedInFullAsAnonymousReports) {
  Ingest ingest(Args());
  const int port = ingest.Port();
  ASSERT_GT(port, 0) << ingest.err();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  const std::string sample = ReadFile(CIVICPULSE_SF_SAMPLE);
  ASSERT_GT(sample.size(), 200000u);
  auto response = client.Post("/v1/open311/requests", Auth(kCouncilToken),
                              sample, "application/json");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 202) << response->body;
  EXPECT_EQ(response->body,
            "{\"accepted\":500,\"rejected\":0,\"errors\":[]}\n");

  const std::vector<Record> events = Consume(kEvents, 500);
  ASSERT_EQ(events.size(), 500u);
  EXPECT_EQ(TopicSize(kEvents), 500);
  EXPECT_EQ(TopicSize(kDlq), 0);
  std::set<std::string> ids;
  std::map<std::string, int> areas;
  int boxes = 0;
  for (const Record& record : events) {
    const core::Event event = Decode(record);
    EXPECT_FALSE(event.has_participant) << event.event_id;
    EXPECT_EQ(event.participant, "");
    EXPECT_EQ(event.kind, core::Kind::kWatchReport);
    EXPECT_EQ(event.coproduction, core::CoproductionType::kCoAssessment);
    EXPECT_TRUE(event.public_body);
    EXPECT_EQ(event.source, "council");
    EXPECT_EQ(record.key, event.area);
    ids.insert(event.event_id);
    ++areas[event.area];
    if (event.area.find("SF-north-") == 0 || event.area.find("SF-south-") == 0)
      ++boxes;
    if (event.event_id == "open311-council-909923") {
      // "2011-06-28 05:14:00" in San Francisco (PDT, UTC-7).
      EXPECT_EQ(core::FormatRfc3339(event.occurred_at_ms),
                "2011-06-28T12:14:00Z");
      EXPECT_EQ(event.area, "SF-94110");
      EXPECT_EQ(event.category, "Abandoned Vehicle");
      EXPECT_EQ(event.sector, core::Sector::kCommunitySafety);
    }
  }
  EXPECT_EQ(ids.size(), 500u);
  EXPECT_TRUE(ids.count("open311-council-909923"));
  EXPECT_EQ(areas["SF-94110"], 64);
  EXPECT_EQ(areas["SF-unknown"], 26);  // zipcode 0 and lat/long 0,0
  EXPECT_EQ(boxes, 180);               // 178 without zipcode, 2 with zipcode 0
}

TEST_F(IngestTest, CsvImportsNameTheLineAndColumnOfBadRows) {
  Ingest ingest(Args({"--time-zone", "Europe/London"}));
  const int port = ingest.Port();
  ASSERT_GT(port, 0) << ingest.err();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  const std::string csv =
      "participant,area,occurred_at,weight_kg,material\r\n"
      "raw-csv-1,W01,2026-01-05 10:00,2.5,glass\r\n"
      "raw-csv-2,W02,2026-01-05 11:00,-1,paper\r\n"
      "raw-csv-3,W02,\"2026-01-05T12:00:00Z\",0.75,\"tins, cans\"\r\n";
  auto response =
      client.Post("/v1/imports/csv?kind=recycling", Auth(), csv, "text/csv");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 202) << response->body;
  EXPECT_THAT(
      response->body,
      HasSubstr(
          R"("accepted":2,"rejected":1,"errors":[{"line":3,"column":4,"field":"weight_kg","reason":"out_of_range")"));
  const std::vector<Record> events = Consume(kEvents, 2);
  ASSERT_EQ(events.size(), 2u);
  for (const Record& record : events) {
    const core::Event event = Decode(record);
    EXPECT_EQ(event.kind, core::Kind::kRecycling);
    EXPECT_EQ(event.participant.size(), 64u);
    if (event.area == "W01") {
      EXPECT_EQ(core::FormatRfc3339(event.occurred_at_ms),
                "2026-01-05T10:00:00Z");  // GMT
      EXPECT_EQ(event.participant, ExpectedPseudonym("nw-app", "raw-csv-1"));
    }
  }
  const std::vector<Record> dead = Consume(kDlq, 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].headers.at("error"), "out_of_range");
  EXPECT_EQ(dead[0].headers.at("line"), "3");
  EXPECT_EQ(dead[0].headers.at("content-type"), "text/csv");
  // Every cell that is not vocabulary, a date-time or a short number is pseudonymised
  // (without --areas-file an area is not known to be harmless).
  EXPECT_EQ(dead[0].value,
            absl::StrCat(ExpectedPseudonym("nw-app", "raw-csv-2"), ",",
                         ExpectedPseudonym("nw-app", "W02"), ",2026-01-05 11:00,-1,paper"));

  response = client.Post("/v1/imports/csv?kind=recycling", Auth(),
                         "participant,area\n", "text/csv");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_THAT(response->body,
              HasSubstr("missing columns occurred_at, weight_kg"));
}

TEST_F(IngestTest, TokensAndLimitsProtectTheApi) {
  Ingest ingest(Args({"--max-body-bytes", "4096", "--max-records", "3",
                            "--max-json-depth", "8"}));
  const int port = ingest.Port();
  ASSERT_GT(port, 0) << ingest.err();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  const std::string one = Event("l-1", "p", "W01");
  auto response = client.Post("/v1/events", one, "application/json");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
  response = client.Post("/v1/events", Auth("tok-unknown-0123456789abcdef"),
                         one, "application/json");
  EXPECT_EQ(response->status, 401);
  response = client.Post("/v1/events", Auth(), std::string(5000, ' ') + one,
                         "application/json");
  EXPECT_EQ(response->status, 413);
  response =
      client.Post("/v1/events", Auth(),
                  absl::StrCat("[", one, ",", one, ",", one, ",", one, "]"),
                  "application/json");
  EXPECT_EQ(response->status, 413);
  EXPECT_THAT(response->body, HasSubstr("more than 3 records"));
  response =
      client.Post("/v1/events", Auth(), "[{\"event_id\":", "application/json");
  EXPECT_EQ(response->status, 400);
  response = client.Post("/v1/events", Auth(), one, "text/xml");
  EXPECT_EQ(response->status, 415);
  response =
      client.Post("/v1/events", Auth(),
                  "[" + std::string(100, '[') + std::string(100, ']') + "]",
                  "application/json");
  EXPECT_EQ(response->status, 202);
  EXPECT_THAT(response->body, HasSubstr("nested deeper than 8"));
  EXPECT_EQ(client.Get("/healthz")->status, 200);
}

TEST_F(IngestTest, KafkaDownIsA503WithRetryAfterNeverAnAcknowledgement) {
  Ingest ingest(Args({"--produce-timeout", "1s", "--retry-after", "7"}));
  const int port = ingest.Port();
  ASSERT_GT(port, 0) << ingest.err();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60,
                          0);  // a hang fails the test instead of passing it

  broker_->SetAvailable(false);
  auto response =
      client.Post("/v1/events", Auth(), Event("down-1", "p-down", "W09"),
                  "application/json");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503) << response->body;
  EXPECT_EQ(response->get_header_value("Retry-After"), "7");
  EXPECT_THAT(response->body,
              HasSubstr("nothing of this request is acknowledged"));
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_THAT(health->body, HasSubstr("kafka"));

  broker_->SetAvailable(true);
  int status = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (status != 202 && absl::Now() < deadline) {
    response =
        client.Post("/v1/events", Auth(), Event("down-1", "p-down", "W09"),
                    "application/json");
    ASSERT_TRUE(response);
    status = response->status;
    if (status != 202)
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_EQ(status, 202) << response->body;
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  // Acknowledged means stored (a retry may have stored it more than once; ids
  // dedupe).
  const std::vector<Record> events = Consume(kEvents, 1);
  ASSERT_GE(events.size(), 1u);
  EXPECT_EQ(Decode(events[0]).event_id, "down-1");
  auto metrics = client.Get("/metrics");
  EXPECT_THAT(
      metrics->body,
      HasSubstr(
          R"(civicpulse_ingest_requests_total{code="503",route="events"})"));
}

TEST_F(IngestTest, StartUpRefusesWithOneLineWhereItMust) {
  {  // No pseudonym key.
    Ingest ingest({"--brokers", broker_->bootstrap_servers(), "--listen",
                         "127.0.0.1:0"});
    EXPECT_EQ(ingest.Wait(), 2);
    const std::vector<std::string> lines =
        absl::StrSplit(ingest.err(), '\n', absl::SkipEmpty());
    ASSERT_EQ(lines.size(), 1u) << ingest.err();
    EXPECT_THAT(lines[0], HasSubstr("--pseudonym-key-file is required"));
  }
  {  // No tokens file and a non-loopback address.
    Ingest ingest({"--brokers", broker_->bootstrap_servers(), "--demo",
                         "--listen", "0.0.0.0:0"});
    EXPECT_EQ(ingest.Wait(), 2);
    EXPECT_THAT(ingest.err(), HasSubstr("loopback only"));
  }
  {  // --demo: a random key, said on stderr; without tokens every request is
     // "local".
    Ingest ingest({"--brokers", broker_->bootstrap_servers(), "--demo",
                         "--listen", "127.0.0.1:0"});
    const int port = ingest.Port();
    ASSERT_GT(port, 0) << ingest.err();
    EXPECT_THAT(ingest.err(), HasSubstr("random key"));
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(30, 0);
    auto response = client.Post("/v1/events", Event("demo-1", "p-demo", "W01"),
                                "application/json");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 202) << response->body;
    const std::vector<Record> events = Consume(kEvents, 1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(Decode(events[0]).source, "local");
    EXPECT_NE(Decode(events[0]).participant,
              ExpectedPseudonym("local", "p-demo"));
    ingest.Signal(SIGTERM);
    EXPECT_EQ(ingest.Wait(), 0);
  }
  {  // --help
    Ingest ingest({"--help"});
    EXPECT_EQ(ingest.Wait(), 0);
    EXPECT_THAT(ingest.out(), HasSubstr("--pseudonym-key-file"));
    EXPECT_THAT(ingest.out(), HasSubstr("--produce-timeout"));
  }
}

}  // namespace
}  // namespace civicpulse
