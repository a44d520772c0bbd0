// AggregatorApp against the embedded broker over real TCP: events already in the topic are
// aggregated, rejected ones dead-lettered, the progress published covers every record, and a
// restarted instance rebuilds the same state from the earliest offset.
#include "app.h"

#include <httplib.h>
#include <prometheus/registry.h>

#include <map>
#include <thread>

#include "absl/strings/str_format.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/kafka/embedded_broker.h"
#include "checkpointer.h"
#include "record_router.h"
#include "state_restorer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::aggregator {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr int kPartitions = 4;

class AggregatorAppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = kafka::EmbeddedBroker::Start(
        {.partitions = kPartitions,
         .topics = {kafka::kEventsTopic, kafka::kDeadLetterTopic, kafka::kAggregatesTopic,
                    kafka::kChangelogTopic}});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
    kafka_.brokers = broker_->bootstrap_servers();
  }

  AggregatorConfig Config(const std::string& instance) {
    AggregatorConfig config;
    config.common.kafka = kafka_;
    config.common.listen = "127.0.0.1:0";
    config.flush_interval = "100ms";
    config.idle_timeout = "2s";
    config.instance_id = instance;
    EXPECT_TRUE(config.Finish().ok());
    return config;
  }

  void Produce(const std::vector<std::pair<std::string, std::string>>& records) {
    auto producer = kafka::Producer::Create(kafka_);
    ASSERT_TRUE(producer.ok()) << producer.status();
    std::vector<kafka::ProducerRecord> out;
    for (const auto& [key, value] : records) {
      out.push_back({.topic = kafka::kEventsTopic, .key = key, .value = value,
                     .headers = {{"content-type", "application/json"}}});
    }
    ASSERT_TRUE((*producer)->ProduceAndWait(out, absl::Seconds(10)).ok());
  }

  // Reads `topic` from the beginning until `done` says so (or ~60 s pass).
  template <typename Done>
  void ReadUntil(const std::string& topic, Done done,
                 const std::function<void(const kafka::ConsumerRecord&)>& each) {
    auto consumer = kafka::Consumer::Create(kafka_, {.topics = {topic}});
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    for (int i = 0; i < 600 && !done(); ++i) {
      auto batch = (*consumer)->Poll(absl::Milliseconds(100));
      ASSERT_TRUE(batch.ok()) << batch.status();
      for (const kafka::ConsumerRecord& r : **batch) each(r);
    }
  }

  // The newest progress of every source partition, by source offset.
  std::map<int, v1::PartialAggregate> LatestProgress(const std::string& producer,
                                                    uint64_t want_applied) {
    std::map<int, v1::PartialAggregate> latest;
    auto applied = [&] {
      uint64_t sum = 0;
      for (const auto& [p, r] : latest) sum += r.progress().applied();
      return sum;
    };
    ReadUntil(
        kafka::kAggregatesTopic, [&] { return applied() == want_applied; },
        [&](const kafka::ConsumerRecord& r) {
          v1::PartialAggregate record;
          ASSERT_TRUE(record.ParseFromArray(r.value.data(), static_cast<int>(r.value.size())));
          if (!record.has_progress() || record.producer() != producer) return;
          EXPECT_EQ(r.key, ProgressKey(kafka::kEventsTopic, record.source_partition()));
          auto it = latest.find(record.source_partition());
          if (it == latest.end() || it->second.source_offset() <= record.source_offset()) {
            latest[record.source_partition()] = record;
          }
        });
    return latest;
  }

  std::unique_ptr<kafka::EmbeddedBroker> broker_;
  kafka::ClientConfig kafka_;
};

std::string Event(int i, int64_t now_ms) {
  return absl::StrFormat(
      R"({"event_id":"e%d","kind":"watch_report","participant":"p-%d","area":"W%02d","occurred_at":"%s"})",
      i, i % 5, i % 6, core::FormatRfc3339(now_ms - (60 - i) * 60'000));
}

// The first instance reads everything; the second, after a clean restart, restores the state
// from the changelog and reads nothing again: the same progress, no outcome counted twice, no
// dead letter written twice.
TEST_F(AggregatorAppTest, AggregatesExistingDataDeadLettersAndRestoresAfterRestart) {
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::vector<std::pair<std::string, std::string>> records;
  for (int i = 0; i < 24; ++i) records.emplace_back(absl::StrFormat("W%02d", i % 6), Event(i, now_ms));
  const std::string bad_json = R"({"event_id":"x1","kind":)";
  const std::string bad_kind = absl::StrFormat(
      R"({"event_id":"x2","kind":"bake_sale","participant":"p","area":"W01","occurred_at":"%s"})",
      core::FormatRfc3339(now_ms));
  records.emplace_back("W07", bad_json);
  records.emplace_back("W01", bad_kind);
  Produce(records);  // before any aggregator runs

  int64_t offsets_total = 0;
  for (int round = 0; round < 2; ++round) {
    const std::string instance = absl::StrFormat("agg-%d", round);
    AggregatorApp app(Config(instance));
    ASSERT_TRUE(app.Start().ok());
    absl::Status run_status = absl::UnknownError("not run");
    std::thread runner([&] { run_status = app.Run(); });

    std::map<int, v1::PartialAggregate> progress = LatestProgress(instance, 24);
    uint64_t applied = 0, invalid = 0;
    int64_t offsets = 0;
    for (const auto& [partition, record] : progress) {
      applied += record.progress().applied();
      invalid += record.progress().invalid();
      offsets += record.source_offset();
    }
    EXPECT_EQ(applied, 24u) << "round " << round;
    EXPECT_EQ(invalid, 2u) << "round " << round;
    EXPECT_EQ(offsets, 26) << "progress covers every record";
    offsets_total += offsets;

    httplib::Client client("127.0.0.1", app.port());
    // The outcome counts are part of the restored state: the second instance reports the
    // partitions' whole history (nothing re-read, nothing counted twice).
    const std::string applied_line = "civicpulse_aggregator_events_total{outcome=\"applied\"} 24";
    for (int i = 0; i < 50; ++i) {  // the counters lag the published progress by one batch
      auto metrics = client.Get("/metrics");
      ASSERT_TRUE(metrics);
      if (metrics->body.find(applied_line) != std::string::npos) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    auto metrics = client.Get("/metrics");
    EXPECT_THAT(metrics->body, HasSubstr(applied_line));
    EXPECT_THAT(metrics->body,
                HasSubstr("civicpulse_aggregator_events_total{outcome=\"invalid\"} 2"));
    EXPECT_THAT(metrics->body,
                HasSubstr(absl::StrFormat("civicpulse_aggregator_restored_partitions_total %d",
                                          round == 0 ? 0 : kPartitions)));
    EXPECT_THAT(metrics->body, HasSubstr("civicpulse_aggregator_events_total{outcome=\"late\"} 0"));
    EXPECT_THAT(metrics->body, HasSubstr("civicpulse_aggregator_dedup_evicted_ids_total 0"));
    EXPECT_THAT(metrics->body, HasSubstr("civicpulse_aggregator_assigned_partitions 4"));
    EXPECT_THAT(metrics->body, HasSubstr("civicpulse_consumer_lag_records{"));
    EXPECT_EQ(client.Get("/healthz")->status, 200);

    app.Stop();
    runner.join();
    EXPECT_TRUE(run_status.ok()) << run_status;
  }
  EXPECT_EQ(offsets_total, 52);

  // Each rejected value is in the dead-letter topic once, unchanged.
  std::vector<std::tuple<std::string, std::string, std::string>> dlq;
  int polls = 0;
  ReadUntil(
      kafka::kDeadLetterTopic, [&] { return ++polls > 30; },
      [&](const kafka::ConsumerRecord& r) {
        dlq.emplace_back(std::string(r.key), std::string(r.value),
                         std::string(r.Header("error").value_or("")));
        EXPECT_FALSE(r.Header("error-detail").value_or("").empty());
      });
  EXPECT_THAT(dlq, UnorderedElementsAre(std::make_tuple("W07", bad_json, "invalid_json"),
                                        std::make_tuple("W01", bad_kind, "invalid_value")));
}

// Two partitions restored together, each from its own lineage (as two earlier owners left
// them): each gets its own state, offset and highest epoch, nothing of the other's.
TEST_F(AggregatorAppTest, PartitionsRestoredTogetherKeepTheirOwnStates) {
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  prometheus::Registry registry;
  AggregatorMetrics metrics(registry);
  OwnedPartitions owned(kafka::kEventsTopic, core::EngineOptions{}, core::AreaCapOptions{},
                        &metrics);
  DeadLetterQueue dead_letters(kafka::kDeadLetterTopic, 70'000, &metrics);
  RecordRouter router(&owned, &dead_letters, &metrics, /*threads=*/2);
  auto producer = kafka::Producer::Create(kafka_);
  ASSERT_TRUE(producer.ok()) << producer.status();
  Checkpointer checkpointer({.topic = kafka::kEventsTopic,
                             .aggregates_topic = kafka::kAggregatesTopic,
                             .aggregates_partitions = kPartitions,
                             .changelog_topic = kafka::kChangelogTopic,
                             .changelog_partitions = kPartitions,
                             .instance_id = "earlier"},
                            producer->get(), &dead_letters, &metrics);
  // Partition 1: 3 events under epoch 7; partition 3: 5 events under epoch 5, then 2 more
  // in a delta.
  owned.Assign(1, owned.NewEngine(), 0, {.epoch = 7, .owner = 1}, now_ms);
  owned.Assign(3, owned.NewEngine(), 0, {.epoch = 5, .owner = 2}, now_ms);
  std::vector<std::string> values;
  std::vector<kafka::ConsumerRecord> records;
  auto add = [&](int32_t partition, int64_t offset, int i) {
    values.push_back(Event(i, now_ms));
    kafka::ConsumerRecord r;
    r.topic = kafka::kEventsTopic;
    r.partition = partition;
    r.offset = offset;
    r.timestamp_ms = now_ms;
    records.push_back(r);
  };
  for (int i = 0; i < 3; ++i) add(1, i, i);
  for (int i = 0; i < 5; ++i) add(3, i, 10 + i);
  for (size_t i = 0; i < records.size(); ++i) records[i].value = values[i];
  router.Route(records, now_ms);
  ASSERT_TRUE(checkpointer.Run(owned.All(), now_ms).ok());
  records.clear();
  values.clear();
  add(3, 5, 20);
  add(3, 6, 21);
  for (size_t i = 0; i < records.size(); ++i) records[i].value = values[i];
  router.Route(records, now_ms);
  ASSERT_TRUE(checkpointer.Run(owned.All(), now_ms).ok());

  OwnedPartitions fresh(kafka::kEventsTopic, core::EngineOptions{}, core::AreaCapOptions{},
                        &metrics);
  StateRestorer restorer(kafka_, kafka::kEventsTopic, kafka::kChangelogTopic, kPartitions,
                         &fresh);
  StateRestorerStats stats;
  absl::StatusOr<std::vector<RestoredPartition>> restored =
      restorer.Restore({1, 3}, now_ms, absl::Seconds(30), &stats);
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_EQ(restored->size(), 2u);
  const RestoredPartition& p1 = (*restored)[0];
  const RestoredPartition& p3 = (*restored)[1];
  EXPECT_EQ(p1.partition, 1);
  EXPECT_TRUE(p1.from_checkpoint);
  EXPECT_EQ(p1.next_offset, 3);
  EXPECT_EQ(p1.max_epoch, 7);
  EXPECT_EQ(p1.engine->outcome_counts().applied, 3u);
  EXPECT_EQ(p3.partition, 3);
  EXPECT_TRUE(p3.from_checkpoint);
  EXPECT_EQ(p3.next_offset, 7);
  EXPECT_EQ(p3.max_epoch, 5);
  EXPECT_EQ(p3.engine->outcome_counts().applied, 7u);
  EXPECT_EQ(stats.fenced_records, 0u);
}

}  // namespace
}  // namespace civicpulse::aggregator
