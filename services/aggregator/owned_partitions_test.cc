#include "owned_partitions.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "civicpulse/core/event_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::aggregator {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

// 2026-11-22T18:00:00Z
constexpr int64_t kNowMs = 1795370400000;

struct Sent {
  std::string topic, key, value;
  kafka::Headers headers;
  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }
};

// Records what is produced; Flush() answers `flush_status`.
class FakeProducer : public kafka::Producer {
 public:
  absl::Status Produce(const kafka::ProducerRecord& r) override {
    if (!produce_status.ok()) return produce_status;
    queued.push_back({std::string(r.topic), std::string(r.key), std::string(r.value), r.headers});
    return absl::OkStatus();
  }
  absl::Status Flush(absl::Duration) override {
    ++flushes;
    if (!flush_status.ok()) {
      queued.clear();  // lost
      return flush_status;
    }
    for (Sent& s : queued) sent.push_back(std::move(s));
    queued.clear();
    return absl::OkStatus();
  }
  absl::Status ProduceAndWait(const std::vector<kafka::ProducerRecord>&,
                              absl::Duration) override {
    return absl::UnimplementedError("not used");
  }
  void Poll() override {}
  absl::StatusOr<int> PartitionCount(std::string_view, absl::Duration) override { return 4; }

  std::vector<Sent> On(const std::string& topic) const {
    std::vector<Sent> out;
    for (const Sent& s : sent) {
      if (s.topic == topic) out.push_back(s);
    }
    return out;
  }

  absl::Status produce_status;
  absl::Status flush_status;
  int flushes = 0;
  std::vector<Sent> queued;
  std::vector<Sent> sent;
};

std::string Json(const std::string& id, const std::string& area, int64_t minutes_ago,
                 const std::string& participant = "p-1") {
  return absl::StrFormat(
      R"({"event_id":"%s","kind":"watch_report","participant":"%s","area":"%s","occurred_at":"%s"})",
      id, participant, area, core::FormatRfc3339(kNowMs - minutes_ago * 60'000));
}

// Owns the storage the records' views point into.
class Batch {
 public:
  Batch& Add(int32_t partition, int64_t offset, std::string key, std::string value,
             std::string topic = kafka::kEventsTopic) {
    storage_.push_back({std::move(topic), std::move(key), std::move(value)});
    meta_.push_back({partition, offset});
    return *this;
  }
  const std::vector<kafka::ConsumerRecord>& records() {
    records_.clear();
    for (size_t i = 0; i < storage_.size(); ++i) {
      kafka::ConsumerRecord r;
      r.topic = storage_[i][0];
      r.key = storage_[i][1];
      r.value = storage_[i][2];
      r.partition = meta_[i].first;
      r.offset = meta_[i].second;
      r.timestamp_ms = kNowMs;
      records_.push_back(r);
    }
    return records_;
  }

 private:
  std::vector<std::array<std::string, 3>> storage_;
  std::vector<std::pair<int32_t, int64_t>> meta_;
  std::vector<kafka::ConsumerRecord> records_;
};

class OwnedPartitionsTest : public ::testing::Test {
 protected:
  OwnedPartitionsTest()
      : metrics_(registry_),
        owned_({.instance_id = "agg-test"}, &producer_, &metrics_) {}

  std::vector<v1::PartialAggregate> Published() {
    std::vector<v1::PartialAggregate> out;
    for (const Sent& s : producer_.On(kafka::kAggregatesTopic)) {
      v1::PartialAggregate record;
      EXPECT_TRUE(record.ParseFromString(s.value));
      out.push_back(record);
    }
    return out;
  }

  prometheus::Registry registry_;
  AggregatorMetrics metrics_;
  FakeProducer producer_;
  OwnedPartitions owned_;
};

TEST_F(OwnedPartitionsTest, CountsOutcomesAndPublishesCellsThenProgress) {
  owned_.Assign(0, kNowMs);
  Batch batch;
  batch.Add(0, 0, "W01", Json("e1", "W01", 30))
      .Add(0, 1, "W01", Json("e1", "W01", 30))    // duplicate
      .Add(0, 2, "W01", Json("e2", "W01", 20, "p-2"))
      .Add(0, 3, "W01", Json("e3", "W01", 300));  // far older than watermark - grace
  owned_.Consume(batch.records(), kNowMs);
  EXPECT_EQ(metrics_.applied.Value(), 2);
  EXPECT_EQ(metrics_.duplicate.Value(), 1);
  EXPECT_EQ(metrics_.late.Value(), 1);
  EXPECT_EQ(metrics_.invalid.Value(), 0);

  auto offsets = owned_.Publish(nullptr, false, kNowMs);
  ASSERT_TRUE(offsets.ok()) << offsets.status();
  EXPECT_THAT(*offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 4}));
  std::vector<v1::PartialAggregate> published = Published();
  ASSERT_GE(published.size(), 2u);
  for (const v1::PartialAggregate& r : published) {
    EXPECT_EQ(r.source_topic(), kafka::kEventsTopic);
    EXPECT_EQ(r.source_partition(), 0);
    EXPECT_EQ(r.source_offset(), 4);
    EXPECT_EQ(r.producer(), "agg-test");
    EXPECT_EQ(r.produced_unix_ms(), kNowMs);
  }
  // Cells first, the progress record last (it covers them).
  EXPECT_TRUE(published.back().has_progress());
  EXPECT_EQ(published.back().progress().applied(), 2u);
  EXPECT_EQ(published.back().progress().duplicate(), 1u);
  EXPECT_EQ(published.back().progress().late(), 1u);
  const std::vector<Sent> sent = producer_.On(kafka::kAggregatesTopic);
  EXPECT_EQ(sent.back().key, "progress/civicpulse.events.v1/0");
  uint64_t minute_events = 0;
  for (size_t i = 0; i + 1 < published.size(); ++i) {
    ASSERT_TRUE(published[i].has_cell());
    EXPECT_EQ(sent[i].key, CellKey(published[i].cell()));
    if (published[i].cell().width_seconds() == 60) minute_events += published[i].cell().events();
  }
  EXPECT_EQ(minute_events, 2u);  // two applied events in 1-minute buckets
  EXPECT_EQ(metrics_.published_records.Value(), static_cast<double>(published.size()));

  // Nothing new: nothing to publish and nothing to commit.
  owned_.MarkCommitted(*offsets);
  producer_.sent.clear();
  offsets = owned_.Publish(nullptr, false, kNowMs);
  ASSERT_TRUE(offsets.ok());
  EXPECT_THAT(*offsets, IsEmpty());
  EXPECT_THAT(producer_.sent, IsEmpty());

  // A periodic full re-publish sends every live cell again.
  offsets = owned_.Publish(nullptr, true, kNowMs);
  ASSERT_TRUE(offsets.ok());
  EXPECT_EQ(Published().size(), published.size());
}

TEST(CellKeyTest, AreaWidthStart) {
  v1::Cell cell;
  cell.set_area("W05");
  cell.set_width_seconds(900);
  cell.set_start_unix_seconds(1795369500);
  EXPECT_EQ(CellKey(cell), "W05/900s/1795369500");
  EXPECT_EQ(ProgressKey("t", 7), "progress/t/7");
}

TEST_F(OwnedPartitionsTest, RejectedValueGoesToTheDeadLetterTopicUnchanged) {
  owned_.Assign(1, kNowMs);
  const std::string bad = R"({"event_id":"x1","kind":"watch_report",)";
  const std::string no_participant = absl::StrFormat(
      R"({"event_id":"x2","kind":"watch_report","area":"W01","occurred_at":"%s"})",
      core::FormatRfc3339(kNowMs - 60'000));
  Batch batch;
  batch.Add(1, 10, "W05", bad).Add(1, 11, "W01", no_participant);
  owned_.Consume(batch.records(), kNowMs);
  EXPECT_EQ(metrics_.invalid.Value(), 2);
  EXPECT_EQ(metrics_.applied.Value(), 0);

  // Dead letters are only durable after the flush.
  auto offsets = owned_.Publish(nullptr, false, kNowMs);
  ASSERT_TRUE(offsets.ok());
  EXPECT_THAT(*offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 1, 12}));
  std::vector<Sent> dlq = producer_.On(kafka::kDeadLetterTopic);
  ASSERT_EQ(dlq.size(), 2u);
  EXPECT_EQ(dlq[0].key, "W05");
  EXPECT_EQ(dlq[0].value, bad);
  EXPECT_EQ(dlq[0].Header("error"), "invalid_json");
  EXPECT_FALSE(dlq[0].Header("error-detail").empty());
  EXPECT_EQ(dlq[1].key, "W01");
  EXPECT_EQ(dlq[1].value, no_participant);
  EXPECT_EQ(dlq[1].Header("error"), "missing_field");
  EXPECT_THAT(dlq[1].Header("error-detail"), ::testing::HasSubstr("participant"));
  EXPECT_EQ(metrics_.dlq_records.Value(), 2);
  // The progress record counts them.
  std::vector<v1::PartialAggregate> published = Published();
  ASSERT_FALSE(published.empty());
  EXPECT_EQ(published.back().progress().invalid(), 2u);
}

TEST_F(OwnedPartitionsTest, RecordsOfPartitionsNotOwnedAreDropped) {
  owned_.Assign(0, kNowMs);
  Batch batch;
  batch.Add(3, 0, "W01", Json("e1", "W01", 30))
      .Add(0, 0, "W01", Json("e2", "W01", 30))
      .Add(0, 1, "W01", Json("e3", "W01", 30), "some.other.topic");
  owned_.Consume(batch.records(), kNowMs);
  EXPECT_EQ(metrics_.applied.Value(), 1);
  EXPECT_EQ(metrics_.dropped_records.Value(), 2);
  auto offsets = owned_.Publish(nullptr, false, kNowMs);
  ASSERT_TRUE(offsets.ok());
  EXPECT_THAT(*offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 1}));
}

TEST_F(OwnedPartitionsTest, FailedFlushCommitsNothingAndResendsEveryCell) {
  owned_.Assign(0, kNowMs);
  Batch batch;
  batch.Add(0, 0, "W01", Json("e1", "W01", 30));
  owned_.Consume(batch.records(), kNowMs);
  producer_.flush_status = absl::UnavailableError("broker down");
  auto offsets = owned_.Publish(nullptr, false, kNowMs);
  EXPECT_EQ(offsets.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(producer_.sent, IsEmpty());

  producer_.flush_status = absl::OkStatus();
  offsets = owned_.Publish(nullptr, false, kNowMs);
  ASSERT_TRUE(offsets.ok());
  EXPECT_THAT(*offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 1}));
  std::vector<v1::PartialAggregate> published = Published();
  ASSERT_GE(published.size(), 2u);  // the cells taken by the failed publish, again
  EXPECT_TRUE(published.front().has_cell());
  EXPECT_TRUE(published.back().has_progress());
}

TEST_F(OwnedPartitionsTest, FailedDeadLetterProduceBlocksTheCommit) {
  owned_.Assign(0, kNowMs);
  producer_.produce_status = absl::UnavailableError("queue full");
  Batch batch;
  batch.Add(0, 0, "W01", "{not json");
  owned_.Consume(batch.records(), kNowMs);
  producer_.produce_status = absl::OkStatus();
  EXPECT_FALSE(owned_.Publish(nullptr, false, kNowMs).ok());
}

TEST_F(OwnedPartitionsTest, RewoundPartitionRestartsItsState) {
  owned_.Assign(0, kNowMs);
  Batch first;
  first.Add(0, 5, "W01", Json("e5", "W01", 30)).Add(0, 6, "W01", Json("e6", "W01", 29));
  owned_.Consume(first.records(), kNowMs);
  // Re-assigned within one poll: the partition is read again from its beginning. The same
  // events are applied to a fresh state, not counted as duplicates.
  Batch again;
  again.Add(0, 0, "W01", Json("e0", "W01", 40))
      .Add(0, 5, "W01", Json("e5", "W01", 30))
      .Add(0, 6, "W01", Json("e6", "W01", 29));
  owned_.Consume(again.records(), kNowMs);
  EXPECT_EQ(metrics_.duplicate.Value(), 0);
  EXPECT_EQ(metrics_.applied.Value(), 5);
  auto offsets = owned_.Publish(nullptr, false, kNowMs);
  ASSERT_TRUE(offsets.ok());
  std::vector<v1::PartialAggregate> published = Published();
  ASSERT_FALSE(published.empty());
  EXPECT_EQ(published.back().progress().applied(), 3u);
  EXPECT_EQ(published.back().source_offset(), 7);
}

TEST_F(OwnedPartitionsTest, PublishOfSelectedPartitionsAndLagSeries) {
  owned_.Assign(0, kNowMs);
  owned_.Assign(1, kNowMs);
  EXPECT_EQ(metrics_.assigned_partitions.Value(), 2);
  Batch batch;
  batch.Add(0, 0, "W01", Json("e1", "W01", 30)).Add(1, 0, "W02", Json("e2", "W02", 30));
  owned_.Consume(batch.records(), kNowMs);
  std::vector<int32_t> only_one = {1};
  auto offsets = owned_.Publish(&only_one, false, kNowMs);
  ASSERT_TRUE(offsets.ok());
  EXPECT_THAT(*offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 1, 1}));
  for (const v1::PartialAggregate& r : Published()) EXPECT_EQ(r.source_partition(), 1);

  owned_.UpdateHealthMetrics(kNowMs + 10'000, [](int32_t partition) -> absl::StatusOr<int64_t> {
    return partition == 0 ? 3 : 1;
  });
  auto lag = [&](const std::string& name) {
    std::vector<std::pair<std::string, double>> out;
    for (const prometheus::MetricFamily& f : registry_.Collect()) {
      if (f.name != name) continue;
      for (const prometheus::ClientMetric& m : f.metric) {
        std::string partition;
        for (const auto& l : m.label) {
          if (l.name == "partition") partition = l.value;
        }
        out.emplace_back(partition, m.gauge.value);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_THAT(lag("civicpulse_consumer_lag_records"), ElementsAre(Pair("0", 2), Pair("1", 0)));
  EXPECT_THAT(lag("civicpulse_consumer_lag_seconds"), ElementsAre(Pair("0", 10), Pair("1", 0)));
  EXPECT_GT(metrics_.watermark_delay_seconds.Value(), 0);

  owned_.Drop(0);
  EXPECT_EQ(metrics_.assigned_partitions.Value(), 1);
  EXPECT_THAT(lag("civicpulse_consumer_lag_records"), ElementsAre(Pair("1", 0)));
  EXPECT_THAT(owned_.Partitions(), ElementsAre(1));
}

TEST_F(OwnedPartitionsTest, AllFourOutcomesExistAtZero) {
  int outcomes = 0;
  for (const prometheus::MetricFamily& f : registry_.Collect()) {
    if (f.name != "civicpulse_aggregator_events_total") continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      EXPECT_EQ(m.counter.value, 0);
      ++outcomes;
    }
  }
  EXPECT_EQ(outcomes, 4);
}

}  // namespace
}  // namespace civicpulse::aggregator
