// ExporterApp against the embedded broker over real TCP: reads every partition of the
// aggregates topic, counts undecodable records, serves the store's indicators on /metrics.
#include "app.h"

#include <httplib.h>

#include <fstream>
#include <thread>

#include "civicpulse/kafka/embedded_broker.h"
#include "civicpulse/kafka/producer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::exporter {
namespace {

using ::testing::HasSubstr;

TEST(ExporterAppTest, ReadsAllPartitionsCountsInvalidAndServesIndicators) {
  auto broker = kafka::EmbeddedBroker::Start({.partitions = 3, .topics = {kafka::kAggregatesTopic}});
  ASSERT_TRUE(broker.ok()) << broker.status();
  kafka::ClientConfig kafka_config{.brokers = (*broker)->bootstrap_servers()};

  const std::string areas = ::testing::TempDir() + "/exporter_app_test_areas.csv";
  std::ofstream(areas) << "area,residents\nW01,1200\nW02,800\n";
  ExporterConfig config;
  config.common.kafka = kafka_config;
  config.common.listen = "127.0.0.1:0";
  config.merge_interval = "100ms";
  config.areas_file = areas;
  ASSERT_TRUE(config.Finish().ok());

  // Started before any aggregate exists.
  ExporterApp app(config);
  ASSERT_TRUE(app.Start().ok());
  absl::Status run_status = absl::UnknownError("not run");
  std::thread runner([&] { run_status = app.Run(); });

  v1::PartialAggregate record;
  record.set_source_topic(kafka::kEventsTopic);
  record.set_source_partition(0);
  record.set_source_offset(1);
  record.set_producer("test");
  v1::PartitionProgress* progress = record.mutable_progress();
  progress->set_applied(1);
  // A complete snapshot batch of one record, whose totals name a kind the store does not
  // know: rejected by the store, once per partition.
  record.mutable_batch()->set_count(1);
  record.mutable_batch()->set_snapshot(true);
  progress->add_totals()->set_area("W01");
  std::string progress_value = record.SerializeAsString();
  const std::string garbage = "\xff\xff not a protobuf";
  std::vector<kafka::ProducerRecord> out;
  for (int32_t p = 0; p < 3; ++p) {
    out.push_back({.topic = kafka::kAggregatesTopic, .key = "progress", .value = progress_value,
                   .partition = p});
  }
  out.push_back({.topic = kafka::kAggregatesTopic, .key = "x", .value = garbage, .partition = 1});
  out.push_back({.topic = kafka::kAggregatesTopic, .key = "x", .value = "", .partition = 2});
  auto producer = kafka::Producer::Create(kafka_config);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->ProduceAndWait(out, absl::Seconds(10)).ok());

  httplib::Client client("127.0.0.1", app.port());
  std::string body;
  for (int i = 0; i < 300; ++i) {
    auto metrics = client.Get("/metrics");
    ASSERT_TRUE(metrics);
    body = metrics->body;
    if (body.find("civicpulse_exporter_records_total 5") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(body, HasSubstr("civicpulse_exporter_records_total 5\n"));
  EXPECT_THAT(body, HasSubstr("civicpulse_exporter_invalid_records_total 2\n"));
  EXPECT_THAT(body, HasSubstr("civicpulse_area_residents{area=\"W01\"} 1200\n"));
  EXPECT_THAT(body, HasSubstr("# TYPE civicpulse_exporter_last_merge_timestamp_seconds gauge"));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("civicpulse_exporter_last_merge_timestamp_seconds 0\n")));
  for (int i = 0; i < 100 && body.find("rejected_records_total 3") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    body = client.Get("/metrics")->body;
  }
  EXPECT_THAT(body, HasSubstr("civicpulse_exporter_rejected_records_total 3\n"));
  // The exposition (registry, process metrics and the indicators' text) is promtool-clean.
  const std::string file = ::testing::TempDir() + "/exporter_app_test_metrics.prom";
  std::ofstream(file) << body;
  if (std::system("command -v promtool > /dev/null 2>&1") == 0) {
    EXPECT_EQ(std::system(("promtool check metrics < " + file + " > " + file + ".out 2>&1").c_str()),
              0);
    std::ifstream report(file + ".out");
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(report)), std::istreambuf_iterator<char>()),
              "");
  }
  EXPECT_EQ(client.Get("/healthz")->status, 200);

  app.Stop();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

// With a merge interval far longer than the test, new aggregates still reach /metrics: the
// exporter merges once it has read all there are (--min-merge-interval).
TEST(ExporterAppTest, MergesNewAggregatesWithoutWaitingForTheMergeInterval) {
  auto broker =
      kafka::EmbeddedBroker::Start({.partitions = 1, .topics = {kafka::kAggregatesTopic}});
  ASSERT_TRUE(broker.ok()) << broker.status();
  kafka::ClientConfig kafka_config{.brokers = (*broker)->bootstrap_servers()};
  ExporterConfig config;
  config.common.kafka = kafka_config;
  config.common.listen = "127.0.0.1:0";
  config.merge_interval = "10m";
  config.min_merge_interval = "0s";
  ASSERT_TRUE(config.Finish().ok());
  ExporterApp app(config);
  ASSERT_TRUE(app.Start().ok());
  absl::Status run_status = absl::UnknownError("not run");
  std::thread runner([&] { run_status = app.Run(); });
  httplib::Client client("127.0.0.1", app.port());
  auto metrics = [&client] {
    auto response = client.Get("/metrics");
    return response ? response->body : std::string();
  };
  // The first merge comes at once; the next one by the interval would be in 10 minutes.
  for (int i = 0;
       i < 300 && metrics().find("last_merge_timestamp_seconds 0\n") != std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }

  v1::PartialAggregate record;
  record.set_source_topic(kafka::kEventsTopic);
  record.set_source_partition(0);
  record.set_source_offset(1);
  record.set_producer("test");
  record.mutable_batch()->set_count(1);
  record.mutable_batch()->set_snapshot(true);
  v1::AreaKindTotals* totals = record.mutable_progress()->add_totals();
  totals->set_area("W01");
  totals->set_kind(v1::Kind::KIND_WATCH_REPORT);
  totals->set_events(7);
  auto producer = kafka::Producer::Create(kafka_config);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)
                  ->ProduceAndWait({{.topic = kafka::kAggregatesTopic,
                                     .key = "progress",
                                     .value = record.SerializeAsString(),
                                     .partition = 0}},
                                   absl::Seconds(10))
                  .ok());
  const std::string want = "civicpulse_events_total{area=\"W01\",kind=\"watch_report\"} 7\n";
  std::string body;
  for (int i = 0; i < 300 && body.find(want) == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    body = metrics();
  }
  EXPECT_THAT(body, HasSubstr(want));
  app.Stop();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
}

}  // namespace
}  // namespace civicpulse::exporter
