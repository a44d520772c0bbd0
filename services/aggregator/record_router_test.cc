// RecordRouter: whatever the number of lanes and however a stream is cut into batches, every
// partition ends in the state one thread gives it, with the same outcomes counted and the same
// dead letters in the same order (this test also runs under ThreadSanitizer: make tsan).
#include "record_router.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace civicpulse::aggregator {
namespace {

constexpr int64_t kNowMs = 1'780'000'000'000;
constexpr int kPartitions = 6;

// A record of the stream, with the storage its views point into.
struct Stored {
  int32_t partition;
  int64_t offset;
  std::string key, value;
};

// Events of kPartitions partitions in runs of one partition (as fetches deliver them): mostly
// valid JSON or protobuf, some duplicates of an earlier id, some too old (late once the
// watermark has moved), some undecodable (dead letters). Each record's key is unique.
std::vector<Stored> MakeStream(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  core::EventCodec codec;
  std::vector<Stored> stream;
  std::vector<int64_t> next_offset(kPartitions, 0);
  while (stream.size() < n) {
    const auto partition = static_cast<int32_t>(rng() % kPartitions);
    const size_t run = 1 + rng() % (rng() % 4 == 0 ? 1500 : 60);
    for (size_t k = 0; k < run && stream.size() < n; ++k) {
      const size_t i = stream.size();
      core::Event e;
      e.event_id = absl::StrCat("e-", rng() % 10 == 0 ? rng() % (i + 1) : i);  // duplicates
      e.SetKind(static_cast<core::Kind>(1 + rng() % 3));
      e.hours = e.kind == core::Kind::kVolunteerShift ? 2.5 : 0;
      e.weight_kg = e.kind == core::Kind::kRecycling ? 3.2 : 0;
      e.participant = absl::StrCat("p-", rng() % 3000);
      e.area = absl::StrCat("W", rng() % 40);
      const int64_t age_ms =
          rng() % 50 == 0 ? 3 * 86'400'000 : static_cast<int64_t>(rng() % 3'600'000);
      e.occurred_at_ms = kNowMs - age_ms;
      e.source = "test";
      std::string value;
      switch (rng() % 8) {
        case 0:
          codec.EncodeProtobuf(e, &value);
          break;
        case 1:
          value = "{\"event_id\":\"broken";
          break;
        default:
          codec.EncodeJson(e, &value);
      }
      stream.push_back({partition, next_offset[partition]++, absl::StrCat("k", i), value});
    }
  }
  return stream;
}

std::vector<kafka::ConsumerRecord> View(const std::vector<Stored>& stream, size_t begin,
                                        size_t end) {
  std::vector<kafka::ConsumerRecord> batch;
  for (size_t i = begin; i < end; ++i) {
    batch.push_back({.topic = kafka::kEventsTopic,
                     .partition = stream[i].partition,
                     .offset = stream[i].offset,
                     .timestamp_ms = kNowMs,
                     .key = stream[i].key,
                     .value = stream[i].value});
  }
  return batch;
}

// Keeps the keys of the dead letters produced, in order.
class KeyRecorder : public kafka::Producer {
 public:
  absl::Status Produce(const kafka::ProducerRecord& r) override {
    keys.emplace_back(r.key);
    return absl::OkStatus();
  }
  absl::Status Flush(absl::Duration) override { return absl::OkStatus(); }
  absl::Status ProduceAndWait(const std::vector<kafka::ProducerRecord>&, absl::Duration) override {
    return absl::UnimplementedError("not used");
  }
  void Poll() override {}
  absl::StatusOr<int> PartitionCount(std::string_view, absl::Duration) override { return 1; }
  std::vector<std::string> keys;
};

// One aggregator's routing: its partitions, dead letters and metrics.
struct Member {
  explicit Member(int threads, std::vector<int32_t> owned_partitions = {0, 1, 2, 3, 4, 5})
      : metrics(registry),
        owned(kafka::kEventsTopic, core::EngineOptions{}, core::AreaCapOptions{}, &metrics),
        dead_letters(kafka::kDeadLetterTopic, 70'000, &metrics),
        router(&owned, &dead_letters, &metrics, threads) {
    for (int32_t p : owned_partitions) {
      owned.Assign(p, owned.NewEngine(), -1, {.epoch = 1, .owner = 1}, kNowMs);
    }
  }

  // Routes `stream` cut into batches of the given sizes (repeated until it is all routed).
  void RouteAll(const std::vector<Stored>& stream, const std::vector<size_t>& sizes) {
    for (size_t begin = 0, k = 0; begin < stream.size(); ++k) {
      const size_t end = std::min(stream.size(), begin + sizes[k % sizes.size()]);
      router.Route(View(stream, begin, end), kNowMs);
      begin = end;
    }
    EXPECT_TRUE(dead_letters.Produce(&letters).ok());
  }

  // Everything a partition's engine would publish or checkpoint, and its position.
  std::string Fingerprint(int32_t partition) {
    OwnedPartition* p = owned.Find(partition);
    if (p == nullptr) return "not owned";
    const core::OutcomeCounts c = p->engine->outcome_counts();
    std::string out = absl::StrCat("next ", p->next_offset, " applied ", c.applied, " duplicate ",
                                   c.duplicate, " late ", c.late, " invalid ", c.invalid, "\n");
    v1::PartitionProgress progress;
    p->engine->FillProgress(&progress);
    absl::StrAppend(&out, progress.ShortDebugString(), "\n");
    std::vector<v1::Cell> cells;
    p->engine->TakeCells(&cells, /*all=*/true);
    std::vector<std::string> lines;
    for (const v1::Cell& cell : cells) lines.push_back(cell.ShortDebugString());
    std::sort(lines.begin(), lines.end());
    for (const std::string& line : lines) absl::StrAppend(&out, line, "\n");
    return out;
  }

  prometheus::Registry registry;
  AggregatorMetrics metrics;
  OwnedPartitions owned;
  DeadLetterQueue dead_letters;
  RecordRouter router;
  KeyRecorder letters;
};

TEST(RecordRouterTest, EveryPartitionEndsAsOneThreadLeavesItWhateverTheLanesAndBatches) {
  const std::vector<Stored> stream = MakeStream(40'000, 1);
  Member one(1);
  one.RouteAll(stream, {10'000});
  ASSERT_FALSE(one.letters.keys.empty());
  // The dead letters of one thread are the undecodable records in stream order.
  std::vector<std::string> expected_letters;
  for (const Stored& s : stream) {
    if (s.value.starts_with("{\"event_id\":\"broken")) expected_letters.push_back(s.key);
  }
  EXPECT_EQ(one.letters.keys, expected_letters);

  const std::vector<std::vector<size_t>> cuts = {
      {10'000}, {1, 300, 5000, 255, 256, 2000, 7}, {RecordRouter::kMinParallel}, {40'000}};
  for (int threads : {2, 3, 8}) {
    for (const std::vector<size_t>& sizes : cuts) {
      SCOPED_TRACE(absl::StrCat(threads, " threads, first batch of ", sizes[0]));
      Member many(threads);
      many.RouteAll(stream, sizes);
      for (int32_t p = 0; p < kPartitions; ++p) {
        EXPECT_EQ(many.Fingerprint(p), one.Fingerprint(p)) << "partition " << p;
      }
      EXPECT_EQ(many.letters.keys, expected_letters);
      // Counted once each, also by the batches that stay on the calling thread.
      for (int outcome = 0; outcome < 4; ++outcome) {
        EXPECT_EQ(many.metrics.outcomes->value(outcome), one.metrics.outcomes->value(outcome))
            << "outcome " << outcome;
      }
      EXPECT_GT(many.router.routed_on_helpers(), 0u);
      EXPECT_EQ(many.metrics.dropped_records.Value(), 0);
      if (HasFailure()) return;
    }
  }
}

TEST(RecordRouterTest, RecordsBelowThePositionOrOfPartitionsNotOwnedAreDroppedOnEveryLane) {
  const std::vector<Stored> stream = MakeStream(20'000, 2);
  // Partition 5 is not owned; partition 2 resumes at offset 700 (the records below it were
  // applied before a rebalance and are delivered again).
  auto member = [](int threads) {
    auto m = std::make_unique<Member>(threads, std::vector<int32_t>{0, 1, 2, 3, 4});
    m->owned.Find(2)->next_offset = 700;
    return m;
  };
  auto one = member(1);
  one->RouteAll(stream, {10'000});
  auto many = member(4);
  many->RouteAll(stream, {3000, 9000});
  double expected_dropped = 700;
  for (const Stored& s : stream) expected_dropped += s.partition == 5 ? 1 : 0;
  EXPECT_EQ(one->metrics.dropped_records.Value(), expected_dropped);
  EXPECT_EQ(many->metrics.dropped_records.Value(), expected_dropped);
  for (int32_t p = 0; p < kPartitions; ++p) {
    EXPECT_EQ(many->Fingerprint(p), one->Fingerprint(p)) << "partition " << p;
  }
  EXPECT_EQ(many->letters.keys, one->letters.keys);
  EXPECT_GT(many->router.routed_on_helpers(), 0u);
}

TEST(RecordRouterTest, ARecordOfNoPartitionIsDroppedBesidePartitionZero) {
  std::vector<Stored> stream = MakeStream(3'000, 4);
  for (size_t i = 0; i < stream.size(); ++i) {
    stream[i].partition = i % 3 == 0 ? -1 : 0;
    stream[i].offset = static_cast<int64_t>(i);
  }
  auto route = [&stream](int threads) {
    auto m = std::make_unique<Member>(threads);
    m->RouteAll(stream, {1000});
    return m;
  };
  auto one = route(1);
  auto many = route(3);
  EXPECT_EQ(one->metrics.dropped_records.Value(), 1000);
  EXPECT_EQ(many->metrics.dropped_records.Value(), 1000);
  EXPECT_EQ(many->Fingerprint(0), one->Fingerprint(0));
  EXPECT_GT(one->owned.Find(0)->engine->outcome_counts().applied, 0u);
}

TEST(RecordRouterTest, ABatchOfOnePartitionOrBelowTheThresholdStaysOnTheCallingThread) {
  const std::vector<Stored> stream = MakeStream(5'000, 3);
  Member many(4);
  std::vector<Stored> one_partition = stream;
  for (size_t i = 0; i < one_partition.size(); ++i) {
    one_partition[i].partition = 3;
    one_partition[i].offset = static_cast<int64_t>(i);
  }
  many.RouteAll(one_partition, {one_partition.size()});
  many.RouteAll(stream, {RecordRouter::kMinParallel - 1});
  EXPECT_EQ(many.router.routed_on_helpers(), 0u);
}

}  // namespace
}  // namespace civicpulse::aggregator
