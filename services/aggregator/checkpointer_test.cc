#include "checkpointer.h"

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "civicpulse/core/event_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "record_router.h"

namespace civicpulse::aggregator {
namespace {

using ::testing::ElementsAre;

// Runs a checkpoint that must succeed, names the offsets it returned and marks them
// committed (as the app does after Consumer::Commit).
#define ASSERT_CHECKPOINTED(offsets, expr)                     \
  auto offsets##_or = (expr);                                  \
  ASSERT_TRUE(offsets##_or.ok()) << offsets##_or.status();     \
  const std::vector<kafka::TopicPartition> offsets = *offsets##_or; \
  Checkpointer::MarkCommitted(offsets, &owned_)

// 2026-11-22T18:00:00Z
constexpr int64_t kNowMs = 1795370400000;

struct Sent {
  std::string topic, key, value;
  kafka::Headers headers;
  int32_t partition = -1;
  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }
};

// Records what is produced; Flush() answers the next of `flush_results` (OK when none).
class FakeProducer : public kafka::Producer {
 public:
  absl::Status Produce(const kafka::ProducerRecord& r) override {
    if (!produce_status.ok()) return produce_status;
    queued.push_back({std::string(r.topic), std::string(r.key), std::string(r.value), r.headers,
                      r.partition});
    return absl::OkStatus();
  }
  absl::Status Flush(absl::Duration) override {
    ++flushes;
    absl::Status result;
    if (!flush_results.empty()) {
      result = flush_results.front();
      flush_results.erase(flush_results.begin());
    }
    if (!result.ok()) {
      queued.clear();  // lost
      return result;
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
  std::vector<absl::Status> flush_results;
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

class CheckpointerTest : public ::testing::Test {
 protected:
  CheckpointerTest()
      : metrics_(registry_),
        owned_(kafka::kEventsTopic, core::EngineOptions{}, core::AreaCapOptions{}, &metrics_),
        dead_letters_(kafka::kDeadLetterTopic, 70'000, &metrics_),
        router_(&owned_, &dead_letters_, &metrics_, /*threads=*/2),
        checkpointer_({.topic = kafka::kEventsTopic,
                       .aggregates_topic = kafka::kAggregatesTopic,
                       .aggregates_partitions = 4,
                       .changelog_topic = kafka::kChangelogTopic,
                       .changelog_partitions = 4,
                       .instance_id = "agg-test"},
                      &producer_, &dead_letters_, &metrics_) {}

  OwnedPartition* Own(int32_t partition, int64_t next_offset = -1) {
    return owned_.Assign(partition, owned_.NewEngine(), next_offset,
                         {.epoch = 7, .owner = 42}, kNowMs);
  }

  absl::StatusOr<std::vector<kafka::TopicPartition>> Checkpoint() {
    return checkpointer_.Run(owned_.All(), kNowMs);
  }

  template <typename Message>
  std::vector<Message> On(const std::string& topic) {
    std::vector<Message> out;
    for (const Sent& s : producer_.On(topic)) {
      Message record;
      EXPECT_TRUE(record.ParseFromString(s.value));
      out.push_back(record);
    }
    return out;
  }

  prometheus::Registry registry_;
  AggregatorMetrics metrics_;
  FakeProducer producer_;
  OwnedPartitions owned_;
  DeadLetterQueue dead_letters_;
  RecordRouter router_;
  Checkpointer checkpointer_;
};

TEST_F(CheckpointerTest, FirstBatchIsASnapshotOfCellsEndingWithProgressThenDeltas) {
  Own(1);
  Batch batch;
  batch.Add(1, 0, "W01", Json("a", "W01", 10)).Add(1, 1, "W01", Json("a", "W01", 10));
  router_.Route(batch.records(), kNowMs);
  ASSERT_CHECKPOINTED(offsets, Checkpoint());
  EXPECT_THAT(offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 1, 2}));

  std::vector<v1::PartialAggregate> aggregates = On<v1::PartialAggregate>(kafka::kAggregatesTopic);
  // One bundle with the three resolutions' cells, then progress.
  ASSERT_EQ(aggregates.size(), 2u);
  ASSERT_TRUE(aggregates[0].has_cells());
  EXPECT_EQ(aggregates[0].cells().cells_size(), 3);
  for (size_t i = 0; i < aggregates.size(); ++i) {
    EXPECT_EQ(aggregates[i].batch().epoch(), 7);
    EXPECT_EQ(aggregates[i].batch().owner(), 42u);
    EXPECT_EQ(aggregates[i].batch().batch(), 0);
    EXPECT_TRUE(aggregates[i].batch().snapshot());
    EXPECT_EQ(aggregates[i].batch().index(), static_cast<int>(i));
    EXPECT_EQ(aggregates[i].batch().count(), i + 1 == aggregates.size() ? 2 : 0);
    EXPECT_EQ(aggregates[i].source_offset(), 2);
  }
  EXPECT_TRUE(aggregates.back().has_progress());
  EXPECT_EQ(aggregates.back().progress().applied(), 1u);
  EXPECT_EQ(aggregates.back().progress().duplicate(), 1u);
  // Co-partitioned: source partition 1 writes to partition 1 of both logs.
  for (const Sent& s : producer_.sent) EXPECT_EQ(s.partition, 1);

  std::vector<v1::ChangelogRecord> changes = On<v1::ChangelogRecord>(kafka::kChangelogTopic);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].batch().snapshot());
  EXPECT_EQ(changes[0].batch().count(), 1);
  EXPECT_EQ(changes[0].source_offset(), 2);
  EXPECT_EQ(changes[0].state().event_id_hashes_size(), 1);
  // No dead letter to make durable first: both logs are acknowledged in one wait.
  EXPECT_EQ(producer_.flushes, 1);

  // Next cycle: deltas, numbered on.
  producer_.sent.clear();
  Batch more;
  more.Add(1, 2, "W01", Json("b", "W01", 5, "p-2"));
  router_.Route(more.records(), kNowMs);
  ASSERT_CHECKPOINTED(offsets2, Checkpoint());
  EXPECT_THAT(offsets2, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 1, 3}));
  aggregates = On<v1::PartialAggregate>(kafka::kAggregatesTopic);
  ASSERT_FALSE(aggregates.empty());
  EXPECT_FALSE(aggregates[0].batch().snapshot());
  EXPECT_EQ(aggregates[0].batch().batch(), 1);
  changes = On<v1::ChangelogRecord>(kafka::kChangelogTopic);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].batch().snapshot());
  EXPECT_EQ(changes[0].batch().batch(), 1);
  EXPECT_EQ(changes[0].state().event_id_hashes_size(), 1);  // only the new id
}

TEST_F(CheckpointerTest, StateBytesSumTheEnginesAtMostEveryTenSeconds) {
  Own(0);
  Own(1);
  auto no_high_watermark = [](int32_t) -> absl::StatusOr<int64_t> {
    return absl::UnavailableError("not fetched");
  };
  auto engines_bytes = [this] {
    size_t bytes = 0;
    for (OwnedPartition* p : owned_.All()) bytes += p->engine->MemoryBytes();
    return static_cast<double>(bytes);
  };
  Batch batch;
  batch.Add(0, 0, "W1", Json("e1", "W1", 5)).Add(1, 0, "W2", Json("e2", "W2", 5, "p-2"));
  router_.Route(batch.records(), kNowMs);
  owned_.UpdateHealthMetrics(kNowMs, no_high_watermark);
  const double first = metrics_.state_bytes.Value();
  EXPECT_EQ(first, engines_bytes());
  EXPECT_GT(first, 0);

  Batch more;
  for (int i = 0; i < 500; ++i) {
    more.Add(0, 1 + i, "W1",
             Json(absl::StrCat("m", i), absl::StrCat("W", i % 40), i % 50, absl::StrCat("p-", i)));
  }
  router_.Route(more.records(), kNowMs);
  ASSERT_GT(engines_bytes(), first);
  owned_.UpdateHealthMetrics(kNowMs + 9'999, no_high_watermark);
  EXPECT_EQ(metrics_.state_bytes.Value(), first) << "not due yet: the cells are not walked";
  owned_.UpdateHealthMetrics(kNowMs + 10'000, no_high_watermark);
  EXPECT_EQ(metrics_.state_bytes.Value(), engines_bytes());
}

TEST_F(CheckpointerTest, NothingNewWritesNothing) {
  Own(0);
  Batch batch;
  batch.Add(0, 0, "W01", Json("a", "W01", 10));
  router_.Route(batch.records(), kNowMs);
  ASSERT_CHECKPOINTED(first, Checkpoint());
  EXPECT_EQ(first.size(), 1u);
  const size_t sent = producer_.sent.size();
  ASSERT_CHECKPOINTED(offsets, Checkpoint());
  EXPECT_TRUE(offsets.empty());
  EXPECT_EQ(producer_.sent.size(), sent);
}

TEST_F(CheckpointerTest, PartitionWithNothingConsumedYetIsNotCheckpointed) {
  Own(3);
  ASSERT_CHECKPOINTED(offsets, Checkpoint());
  EXPECT_TRUE(offsets.empty());
  EXPECT_TRUE(producer_.sent.empty());
}

TEST_F(CheckpointerTest, RejectedValueGoesToTheDeadLetterTopicBeforeTheCheckpoint) {
  Own(0);
  Batch batch;
  batch.Add(0, 0, "W01", "{not json").Add(0, 1, "W01", std::string(100'000, 'x'));
  router_.Route(batch.records(), kNowMs);
  EXPECT_EQ(dead_letters_.pending(), 2u);
  ASSERT_TRUE(Checkpoint().ok());
  // The dead letters were acknowledged before the changelog that covers their records was
  // written: two waits, the changelog after every dead letter.
  EXPECT_EQ(producer_.flushes, 2);
  size_t last_letter = 0, first_change = producer_.sent.size();
  for (size_t i = 0; i < producer_.sent.size(); ++i) {
    if (producer_.sent[i].topic == kafka::kDeadLetterTopic) last_letter = i;
    if (producer_.sent[i].topic == kafka::kChangelogTopic) first_change = std::min(first_change, i);
  }
  EXPECT_LT(last_letter, first_change);
  ASSERT_LT(first_change, producer_.sent.size());
  std::vector<Sent> letters = producer_.On(kafka::kDeadLetterTopic);
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[0].value, "{not json");
  EXPECT_FALSE(letters[0].Header("error").empty());
  EXPECT_EQ(letters[0].Header("truncated"), "");
  // Too large for a record: cut to fit, with the size and digest of the whole.
  EXPECT_LT(letters[1].value.size(), 70'000u);
  EXPECT_EQ(letters[1].Header("truncated"), "true");
  EXPECT_EQ(letters[1].Header("original-size"), "100000");
  EXPECT_EQ(letters[1].Header("original-sha256").size(), 64u);
  EXPECT_EQ(dead_letters_.pending(), 0u);
}

TEST_F(CheckpointerTest, FailedFlushCommitsNothingResendsDeadLettersAndSnapshotsNext) {
  Own(0);
  Batch batch;
  batch.Add(0, 0, "W01", Json("a", "W01", 10)).Add(0, 1, "W01", "{bad");
  router_.Route(batch.records(), kNowMs);
  producer_.flush_results = {absl::UnavailableError("broker down")};
  EXPECT_FALSE(Checkpoint().ok());
  EXPECT_TRUE(producer_.sent.empty());
  EXPECT_EQ(dead_letters_.pending(), 1u);
  // Kafka is back: the dead letter goes out, and the aggregates start over with a snapshot.
  ASSERT_CHECKPOINTED(offsets, Checkpoint());
  EXPECT_THAT(offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 2}));
  EXPECT_EQ(producer_.On(kafka::kDeadLetterTopic).size(), 1u);
  std::vector<v1::PartialAggregate> aggregates = On<v1::PartialAggregate>(kafka::kAggregatesTopic);
  ASSERT_FALSE(aggregates.empty());
  EXPECT_TRUE(aggregates[0].batch().snapshot());
  EXPECT_EQ(aggregates[0].batch().batch(), 0);  // the failed batch number is reused
}

// A cycle in two halves: Start writes the batches without waiting, records consumed in
// between are applied but not covered, and only Finish's wait makes the cycle's offsets
// committable (never those of records consumed after its Start).
TEST_F(CheckpointerTest, StartedCycleCoversWhatWasConsumedAtItsStartOnceFinished) {
  Own(0);
  Batch batch;
  batch.Add(0, 0, "W01", Json("a", "W01", 10)).Add(0, 1, "W01", Json("b", "W01", 9));
  router_.Route(batch.records(), kNowMs);
  ASSERT_TRUE(checkpointer_.Start(owned_.All(), kNowMs).ok());
  EXPECT_TRUE(checkpointer_.pending());
  EXPECT_EQ(producer_.flushes, 0) << "Start does not wait";
  EXPECT_FALSE(producer_.queued.empty());
  // Consumed while Kafka acknowledges the cycle.
  Batch more;
  more.Add(0, 2, "W01", Json("c", "W01", 8, "p-2"));
  router_.Route(more.records(), kNowMs);
  EXPECT_EQ(owned_.Find(0)->next_offset, 3);
  ASSERT_CHECKPOINTED(offsets, checkpointer_.Finish());
  EXPECT_FALSE(checkpointer_.pending());
  EXPECT_EQ(producer_.flushes, 1);
  EXPECT_THAT(offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 2}));
  EXPECT_EQ(owned_.Find(0)->published_offset, 2);
  EXPECT_EQ(owned_.Find(0)->checkpointed_offset, 2);
  std::vector<v1::ChangelogRecord> changes = On<v1::ChangelogRecord>(kafka::kChangelogTopic);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].source_offset(), 2);
  EXPECT_EQ(changes[0].state().event_id_hashes_size(), 2);
  // Nothing pending: Finish says nothing and waits for nothing.
  ASSERT_CHECKPOINTED(none, checkpointer_.Finish());
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(producer_.flushes, 1);

  // The next cycle carries the record consumed in between, as a delta numbered on.
  producer_.sent.clear();
  ASSERT_TRUE(checkpointer_.Start(owned_.All(), kNowMs).ok());
  ASSERT_CHECKPOINTED(next, checkpointer_.Finish());
  EXPECT_THAT(next, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 3}));
  changes = On<v1::ChangelogRecord>(kafka::kChangelogTopic);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].batch().snapshot());
  EXPECT_EQ(changes[0].batch().batch(), 1);
  EXPECT_EQ(changes[0].source_offset(), 3);
  EXPECT_EQ(changes[0].state().event_id_hashes_size(), 1);
}

// A started cycle whose acknowledgement fails commits nothing, and the cycle after it writes
// snapshots on both logs, whether it was started after a Finish or finished the failed one
// itself.
TEST_F(CheckpointerTest, StartedCycleThatFailsLeavesSnapshotsToTheNext) {
  for (const bool explicit_finish : {true, false}) {
    producer_.sent.clear();
    owned_.Drop(0);
    Own(0);
    Batch batch;
    batch.Add(0, 0, "W01", Json("a", "W01", 10));
    router_.Route(batch.records(), kNowMs);
    ASSERT_TRUE(checkpointer_.Run(owned_.All(), kNowMs).ok());
    Batch more;
    more.Add(0, 1, "W01", Json("b", "W01", 9));
    router_.Route(more.records(), kNowMs);
    ASSERT_TRUE(checkpointer_.Start(owned_.All(), kNowMs).ok());
    producer_.flush_results = {absl::DeadlineExceededError("slow")};
    if (explicit_finish) {
      EXPECT_FALSE(checkpointer_.Finish().ok());
    } else {
      // A Start with a cycle pending finishes it first (its failure recorded, not returned).
      Batch third;
      third.Add(0, 2, "W01", Json("c", "W01", 8));
      router_.Route(third.records(), kNowMs);
    }
    EXPECT_EQ(owned_.Find(0)->checkpointed_offset, 1) << explicit_finish;
    producer_.sent.clear();
    producer_.queued.clear();
    ASSERT_CHECKPOINTED(offsets, checkpointer_.Run(owned_.All(), kNowMs));
    const int64_t consumed = explicit_finish ? 2 : 3;
    EXPECT_THAT(offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, consumed}));
    std::vector<v1::ChangelogRecord> changes = On<v1::ChangelogRecord>(kafka::kChangelogTopic);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_TRUE(changes[0].batch().snapshot()) << explicit_finish;
    EXPECT_EQ(changes[0].batch().batch(), 1);  // the failed batch number is reused
    EXPECT_EQ(changes[0].state().event_id_hashes_size(), consumed);
    std::vector<v1::PartialAggregate> aggregates =
        On<v1::PartialAggregate>(kafka::kAggregatesTopic);
    ASSERT_FALSE(aggregates.empty());
    EXPECT_TRUE(aggregates[0].batch().snapshot()) << explicit_finish;
  }
}

TEST_F(CheckpointerTest, FailedChangelogWriteMakesTheNextOneASnapshot) {
  Own(0);
  Batch batch;
  batch.Add(0, 0, "W01", Json("a", "W01", 10));
  router_.Route(batch.records(), kNowMs);
  ASSERT_TRUE(Checkpoint().ok());
  Batch more;
  more.Add(0, 1, "W01", Json("b", "W01", 9));
  router_.Route(more.records(), kNowMs);
  // The one wait for both logs fails: neither batch may be built on.
  producer_.flush_results = {absl::DeadlineExceededError("slow")};
  EXPECT_FALSE(Checkpoint().ok());
  producer_.sent.clear();
  ASSERT_CHECKPOINTED(offsets, Checkpoint());
  EXPECT_THAT(offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 2}));
  std::vector<v1::ChangelogRecord> changes = On<v1::ChangelogRecord>(kafka::kChangelogTopic);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].batch().snapshot());
  EXPECT_EQ(changes[0].state().event_id_hashes_size(), 2);
  std::vector<v1::PartialAggregate> aggregates = On<v1::PartialAggregate>(kafka::kAggregatesTopic);
  ASSERT_FALSE(aggregates.empty());
  EXPECT_TRUE(aggregates[0].batch().snapshot());
}

// --checkpoint-interval: the cycles in between publish aggregates but write no changelog and
// commit nothing new; a forced cycle (revocation, shutdown) writes it at once.
TEST(CheckpointerIntervalTest, ChangelogOnlyOncePerIntervalUnlessForced) {
  prometheus::Registry registry;
  AggregatorMetrics metrics(registry);
  FakeProducer producer;
  OwnedPartitions owned(kafka::kEventsTopic, core::EngineOptions{}, core::AreaCapOptions{},
                        &metrics);
  DeadLetterQueue dead_letters(kafka::kDeadLetterTopic, 70'000, &metrics);
  RecordRouter router(&owned, &dead_letters, &metrics, /*threads=*/2);
  Checkpointer checkpointer({.topic = kafka::kEventsTopic,
                             .aggregates_topic = kafka::kAggregatesTopic,
                             .changelog_topic = kafka::kChangelogTopic,
                             .checkpoint_interval = absl::Seconds(10),
                             .instance_id = "agg-test"},
                            &producer, &dead_letters, &metrics);
  owned.Assign(0, owned.NewEngine(), -1, {.epoch = 1, .owner = 1}, kNowMs);
  int offset = 0;
  // One new event, then a cycle `seconds` after kNowMs: the offsets it returns.
  auto cycle = [&](int seconds, bool force = false) {
    Batch batch;
    batch.Add(0, offset, "W01", Json("e" + std::to_string(offset), "W01", 10));
    ++offset;
    router.Route(batch.records(), kNowMs + seconds * 1000);
    producer.sent.clear();
    absl::StatusOr<std::vector<kafka::TopicPartition>> offsets =
        checkpointer.Run(owned.All(), kNowMs + seconds * 1000, force);
    EXPECT_TRUE(offsets.ok()) << offsets.status();
    if (offsets.ok()) Checkpointer::MarkCommitted(*offsets, &owned);
    EXPECT_FALSE(producer.On(kafka::kAggregatesTopic).empty()) << "published every cycle";
    return offsets.ok() ? *offsets : std::vector<kafka::TopicPartition>{};
  };
  EXPECT_THAT(cycle(0), ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 1}));
  EXPECT_FALSE(producer.On(kafka::kChangelogTopic).empty());
  EXPECT_THAT(cycle(1), ::testing::IsEmpty());
  EXPECT_TRUE(producer.On(kafka::kChangelogTopic).empty());
  EXPECT_THAT(cycle(9), ::testing::IsEmpty());
  EXPECT_TRUE(producer.On(kafka::kChangelogTopic).empty());
  // Due: one delta covers the three events since.
  EXPECT_THAT(cycle(10), ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 4}));
  std::vector<Sent> changes = producer.On(kafka::kChangelogTopic);
  ASSERT_EQ(changes.size(), 1u);
  v1::ChangelogRecord delta;
  ASSERT_TRUE(delta.ParseFromString(changes[0].value));
  EXPECT_EQ(delta.state().event_id_hashes_size(), 3);
  // Before a revocation: forced, whatever the interval.
  EXPECT_THAT(cycle(11, /*force=*/true),
              ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 0, 5}));
  EXPECT_FALSE(producer.On(kafka::kChangelogTopic).empty());
  // Every cycle's publish step is timed; the checkpoint step only when it wrote.
  auto timed = [](prometheus::Histogram& h) { return h.Collect().histogram.sample_count; };
  EXPECT_EQ(timed(metrics.publish_step_seconds), 5u);
  EXPECT_EQ(timed(metrics.checkpoint_step_seconds), 3u);
}

// --no-checkpoints (benchmarks): the aggregates are published as always and their offsets
// committed, but no changelog is written and the engines track no changes for it.
TEST(CheckpointerWithoutChangelogTest, PublishesAndCommitsButWritesNoChangelog) {
  prometheus::Registry registry;
  AggregatorMetrics metrics(registry);
  FakeProducer producer;
  OwnedPartitions owned(kafka::kEventsTopic, core::EngineOptions{}, core::AreaCapOptions{},
                        &metrics);
  owned.set_checkpoints(false);
  DeadLetterQueue dead_letters(kafka::kDeadLetterTopic, 70'000, &metrics);
  RecordRouter router(&owned, &dead_letters, &metrics, /*threads=*/2);
  Checkpointer checkpointer({.topic = kafka::kEventsTopic,
                             .aggregates_topic = kafka::kAggregatesTopic,
                             .changelog_topic = kafka::kChangelogTopic,
                             .changelog = false,
                             .instance_id = "agg-test"},
                            &producer, &dead_letters, &metrics);
  owned.Assign(2, owned.NewEngine(), -1, {.epoch = 1, .owner = 1}, kNowMs);
  Batch batch;
  batch.Add(2, 0, "W01", Json("a", "W01", 10)).Add(2, 1, "W01", Json("b", "W01", 5));
  router.Route(batch.records(), kNowMs);
  absl::StatusOr<std::vector<kafka::TopicPartition>> offsets =
      checkpointer.Run(owned.All(), kNowMs);
  ASSERT_TRUE(offsets.ok()) << offsets.status();
  EXPECT_THAT(*offsets, ElementsAre(kafka::TopicPartition{kafka::kEventsTopic, 2, 2}));
  EXPECT_FALSE(producer.On(kafka::kAggregatesTopic).empty());
  EXPECT_TRUE(producer.On(kafka::kChangelogTopic).empty());
  Checkpointer::MarkCommitted(*offsets, &owned);
  absl::StatusOr<std::vector<kafka::TopicPartition>> again = checkpointer.Run(owned.All(), kNowMs);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty());
}

// Snapshots the policy calls for (here: every cycle, by age) in many partitions at once are
// spread over cycles: one cycle writes them while they fit twice its log's deltas of the cycle
// before (and at least one), and every partition gets its turn.
TEST_F(CheckpointerTest, PolicySnapshotsOfManyPartitionsAreSpreadOverCycles) {
  Checkpointer checkpointer({.topic = kafka::kEventsTopic,
                             .aggregates_topic = kafka::kAggregatesTopic,
                             .aggregates_partitions = 4,
                             .changelog_topic = kafka::kChangelogTopic,
                             .changelog_partitions = 4,
                             .instance_id = "agg-test",
                             .snapshot_min_bytes = 1,
                             .snapshot_interval = absl::Milliseconds(1)},
                            &producer_, &dead_letters_, &metrics_);
  constexpr int kPartitions = 8;
  for (int p = 0; p < kPartitions; ++p) Own(p);
  int event = 0;
  // Routes one new event to every partition, runs a cycle `seconds` after kNowMs and returns
  // the partitions whose changelog batch of the cycle was a snapshot.
  auto cycle = [&](int seconds) {
    Batch batch;
    for (int p = 0; p < kPartitions; ++p) {
      batch.Add(p, event, "W01",
                Json(absl::StrCat("e", event), "W01", 5, absl::StrCat("p-", event)));
      ++event;
    }
    router_.Route(batch.records(), kNowMs + seconds * 1000);
    producer_.sent.clear();
    auto offsets = checkpointer.Run(owned_.All(), kNowMs + seconds * 1000);
    EXPECT_TRUE(offsets.ok()) << offsets.status();
    std::set<int64_t> snapshots;
    for (const v1::ChangelogRecord& r : On<v1::ChangelogRecord>(kafka::kChangelogTopic)) {
      if (r.batch().snapshot()) snapshots.insert(r.source_partition());
    }
    return snapshots;
  };
  // State much larger than a cycle's deltas: 300 people in 10 areas per partition.
  Batch bulk;
  for (int p = 0; p < kPartitions; ++p) {
    for (int i = 0; i < 300; ++i, ++event) {
      bulk.Add(p, event, "W01",
               Json(absl::StrCat("e", event), absl::StrCat("W", i % 10), i % 50,
                    absl::StrCat("p-", event)));
    }
  }
  router_.Route(bulk.records(), kNowMs);
  // The first batch of every partition must be a snapshot (a new lineage): all at once.
  EXPECT_EQ(cycle(0).size(), static_cast<size_t>(kPartitions));
  // Then all are due by age in every cycle, and the last cycle wrote no deltas: one only.
  EXPECT_EQ(cycle(1).size(), 1u);
  std::set<int64_t> snapshotted;
  for (int second = 2; second < 2 + 3 * kPartitions; ++second) {
    const std::set<int64_t> now = cycle(second);
    EXPECT_GE(now.size(), 1u);
    EXPECT_LT(now.size(), static_cast<size_t>(kPartitions));
    snapshotted.insert(now.begin(), now.end());
  }
  EXPECT_EQ(snapshotted.size(), static_cast<size_t>(kPartitions));
}

TEST_F(CheckpointerTest, RecordsNotOwnedOrAlreadyAppliedAreSkipped) {
  Own(0, /*next_offset=*/5);
  Batch batch;
  batch.Add(0, 3, "W01", Json("old", "W01", 10))   // below the restored position
      .Add(2, 0, "W01", Json("x", "W01", 10))      // partition not owned
      .Add(0, 5, "W01", Json("new", "W01", 10));
  router_.Route(batch.records(), kNowMs);
  v1::PartitionProgress progress;
  owned_.Find(0)->engine->FillProgress(&progress);
  EXPECT_EQ(progress.applied(), 1u);
  EXPECT_EQ(owned_.Find(0)->next_offset, 6);
}

// The router decodes records ahead of applying them; a batch far longer than that window,
// mixing two owned partitions, one not owned, stale offsets, duplicates and undecodable
// values, must come out exactly as one record at a time would: every outcome counted, dead
// letters in offset order, each partition's position after its last record.
TEST_F(CheckpointerTest, LongMixedBatchIsRoutedRecordByRecordInOrder) {
  Own(0);
  Own(1, /*next_offset=*/10);
  Batch batch;
  int64_t offset0 = 0, offset1 = 8, offset2 = 0;
  int bad = 0;
  for (int i = 0; i < 50; ++i) {
    switch (i % 5) {
      case 0:
        batch.Add(0, offset0++, "W01", Json("a" + std::to_string(i), "W01", 10));
        break;
      case 1:  // offsets 8 and 9 are below partition 1's position: skipped, not decoded twice
        batch.Add(1, offset1++, "W02", Json("b" + std::to_string(i), "W02", 10));
        break;
      case 2:
        batch.Add(2, offset2++, "W03", Json("c" + std::to_string(i), "W03", 10));
        break;
      case 3:
        batch.Add(0, offset0++, "W01", "{bad " + std::to_string(bad++));
        break;
      case 4:  // a duplicate of the partition-0 event of this group of five
        batch.Add(0, offset0++, "W01", Json("a" + std::to_string(i - 4), "W01", 10));
        break;
    }
  }
  router_.Route(batch.records(), kNowMs);
  v1::PartitionProgress p0, p1;
  owned_.Find(0)->engine->FillProgress(&p0);
  owned_.Find(1)->engine->FillProgress(&p1);
  EXPECT_EQ(p0.applied(), 10u);
  EXPECT_EQ(p0.duplicate(), 10u);
  EXPECT_EQ(p0.invalid(), 10u);
  EXPECT_EQ(p1.applied(), 8u);  // 10 records, the first two below the position
  EXPECT_EQ(owned_.Find(0)->next_offset, 30);
  EXPECT_EQ(owned_.Find(1)->next_offset, 18);
  ASSERT_TRUE(Checkpoint().ok());
  std::vector<Sent> letters = producer_.On(kafka::kDeadLetterTopic);
  ASSERT_EQ(letters.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(letters[i].value, "{bad " + std::to_string(i));
}

TEST(RecordKeyTest, BundleAndProgressNameTheSourcePartition) {
  EXPECT_EQ(BundleKey("civicpulse.events.v1", 3), "cells/civicpulse.events.v1/3");
  EXPECT_EQ(ProgressKey("civicpulse.events.v1", 3), "progress/civicpulse.events.v1/3");
}

}  // namespace
}  // namespace civicpulse::aggregator
