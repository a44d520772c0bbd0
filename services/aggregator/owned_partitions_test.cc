#include "owned_partitions.h"

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace civicpulse::aggregator {
namespace {

constexpr int64_t kNowMs = 1'800'000'000'000;
constexpr int64_t kHourMs = 3'600'000;

// civicpulse_consumer_lag_{records,seconds} of one partition, as UpdateHealthMetrics sets
// them from the log end offset it is handed.
class ConsumerLagTest : public ::testing::Test {
 protected:
  ConsumerLagTest()
      : metrics_(registry_),
        owned_("events", core::EngineOptions{}, core::AreaCapOptions{}, &metrics_) {
    partition_ = owned_.Assign(0, owned_.NewEngine(), /*next_offset=*/10, {.epoch = 1, .owner = 1},
                               kNowMs - 2 * kHourMs);
  }

  void Update(int64_t now_ms, int64_t high) {
    owned_.UpdateHealthMetrics(now_ms, [high](int32_t) -> absl::StatusOr<int64_t> { return high; });
  }
  double Records() { return metrics_.lag_records.Add(Labels()).Value(); }
  double Seconds() { return metrics_.lag_seconds.Add(Labels()).Value(); }
  static prometheus::Labels Labels() { return {{"topic", "events"}, {"partition", "0"}}; }

  prometheus::Registry registry_;
  AggregatorMetrics metrics_;
  OwnedPartitions owned_;
  OwnedPartition* partition_;
};

TEST_F(ConsumerLagTest, CaughtUpIsZero) {
  partition_->last_record_ms = kNowMs - kHourMs;
  Update(kNowMs, 10);
  EXPECT_EQ(Records(), 0);
  EXPECT_EQ(Seconds(), 0);
}

// A partition silent for an hour gets a record, fetched but not yet polled when the metrics
// are set: it is at most a few seconds old, not an hour.
TEST_F(ConsumerLagTest, ARecordAfterSilenceIsAsOldAsTheLastCatchUpAllows) {
  partition_->last_record_ms = kNowMs - kHourMs;
  Update(kNowMs, 10);  // consumed to the end
  Update(kNowMs + 1'000, 11);
  EXPECT_EQ(Records(), 1);
  EXPECT_EQ(Seconds(), (1'000 + OwnedPartitions::kHighWatermarkStaleMs) / 1000.0);
}

// A consumer that stops keeping up: the age grows from the last time it was caught up.
TEST_F(ConsumerLagTest, ALagThatLastsGrowsFromTheLastCatchUp) {
  partition_->last_record_ms = kNowMs - kHourMs;
  Update(kNowMs, 10);
  Update(kNowMs + 1'000, 500);
  Update(kNowMs + 600'000, 90'000);
  EXPECT_EQ(Records(), 89'990);
  EXPECT_EQ(Seconds(), (600'000 + OwnedPartitions::kHighWatermarkStaleMs) / 1000.0);
  // Records consumed since, written after that: their timestamp is the closer bound.
  partition_->last_record_ms = kNowMs + 300'000;
  Update(kNowMs + 600'000, 90'000);
  EXPECT_EQ(Seconds(), 300);
}

// Never caught up since the assignment (a backlog, a replay): the last consumed record's age.
TEST_F(ConsumerLagTest, ABacklogIsAsOldAsTheLastRecordConsumed) {
  Update(kNowMs, 1'000);
  EXPECT_EQ(Records(), 990);
  EXPECT_EQ(Seconds(), 2 * kHourMs / 1000.0);  // nothing consumed yet: since the assignment
  partition_->last_record_ms = kNowMs - 3 * 24 * kHourMs;
  partition_->next_offset = 500;
  Update(kNowMs + 1'000, 1'000);
  EXPECT_EQ(Records(), 500);
  EXPECT_EQ(Seconds(), (3 * 24 * kHourMs + 1'000) / 1000.0);
}

}  // namespace
}  // namespace civicpulse::aggregator
