#include "fetch_wake_policy.h"

#include "gtest/gtest.h"

namespace civicpulse::kafka::internal {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

absl::Time At(int ms) { return kT0 + absl::Milliseconds(ms); }

// Records of the size of an event (about 190 bytes of JSON): 1 MiB, the default bytes mark
// of a full peak, is 5,242 of them.
constexpr size_t kEvent = 200;

TEST(FetchWakePolicyTest, WakesOnceAFullQueueHasDrainedToHalf) {
  FetchWakePolicy policy;
  EXPECT_FALSE(policy.Sample(40'000, kEvent, At(0)));  // the fetcher filled it and stopped
  EXPECT_FALSE(policy.Sample(30'000, kEvent, At(10)));
  EXPECT_FALSE(policy.Sample(20'000, kEvent, At(20)));  // half: not below it yet
  EXPECT_TRUE(policy.Sample(19'999, kEvent, At(30)));
}

TEST(FetchWakePolicyTest, NeverWhileTheQueueFills) {
  FetchWakePolicy policy;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(policy.Sample(1000 + 500 * i, kEvent, At(10 * i)));
}

TEST(FetchWakePolicyTest, NeverForAConsumerThatKeepsUp) {
  FetchWakePolicy policy;  // a queue that never held 1 MiB of events
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(policy.Sample(i % 2 == 0 ? 5'000 : 0, kEvent, At(10 * i)));
  }
}

// The exporter's aggregates: records of 100-500 KB fill 8 MiB with a few dozen. Counted in
// records alone, such a queue never looked full and its fetcher was never woken.
TEST(FetchWakePolicyTest, WakesForAQueueFullOfFewLargeRecords) {
  constexpr size_t kAggregate = 440 * 1024;
  FetchWakePolicy policy;
  EXPECT_FALSE(policy.Sample(20, kAggregate, At(0)));
  EXPECT_FALSE(policy.Sample(10, kAggregate, At(10)));
  EXPECT_TRUE(policy.Sample(9, kAggregate, At(20)));
  // Two of them (under 1 MiB) are not a full queue.
  FetchWakePolicy small;
  EXPECT_FALSE(small.Sample(2, kAggregate, At(0)));
  EXPECT_FALSE(small.Sample(0, kAggregate, At(10)));
}

TEST(FetchWakePolicyTest, EitherBoundMakesAPeakFull) {
  // queued.min.messages reached by records too small to fill the bytes.
  FetchWakePolicy records({.min_peak_records = 1'000, .min_peak_bytes = size_t{1} << 30});
  EXPECT_FALSE(records.Sample(1'000, 10, At(0)));
  EXPECT_TRUE(records.Sample(499, 10, At(10)));
  // Before any record was polled the size is unknown (0): only the record bound counts.
  FetchWakePolicy unknown;
  EXPECT_FALSE(unknown.Sample(100'000, 0, At(0)));
  EXPECT_FALSE(unknown.Sample(0, 0, At(10)));
}

// A policy that saw 20,000 queued records drain to 8,000 and woke the fetcher then, at 10 ms.
FetchWakePolicy WokenOnce() {
  FetchWakePolicy policy;
  policy.Sample(20'000, kEvent, At(0));
  EXPECT_TRUE(policy.Sample(8'000, kEvent, At(10)));
  policy.Woke(8'000, At(10));
  return policy;
}

TEST(FetchWakePolicyTest, AtMostOnceAMinInterval) {
  FetchWakePolicy policy = WokenOnce();
  // The wake-up found nothing to fetch (the queue went on draining): the next waits 50 ms.
  EXPECT_FALSE(policy.Sample(3'000, kEvent, At(20)));
  EXPECT_FALSE(policy.Sample(2'000, kEvent, At(59)));
  EXPECT_TRUE(policy.Sample(2'000, kEvent, At(60)));
}

TEST(FetchWakePolicyTest, MeasuresTheNextDrainFromWhatTheQueueHeldAfterTheWakeUp) {
  FetchWakePolicy policy = WokenOnce();
  // The fetcher refilled it to 12,000 and stopped again: half of that is the next mark.
  EXPECT_FALSE(policy.Sample(12'000, kEvent, At(100)));
  EXPECT_FALSE(policy.Sample(6'000, kEvent, At(150)));
  EXPECT_TRUE(policy.Sample(5'999, kEvent, At(160)));
}

TEST(FetchWakePolicyTest, ForgetsAnOldPeak) {
  FetchWakePolicy policy;
  policy.Sample(50'000, kEvent, At(0));
  // A burst long ago, then a steady queue of 6,000: not a drained queue.
  EXPECT_FALSE(policy.Sample(6'000, kEvent, At(2'001)));
  EXPECT_FALSE(policy.Sample(6'000, kEvent, At(2'100)));
  EXPECT_TRUE(policy.Sample(2'999, kEvent, At(2'200)));
}

}  // namespace
}  // namespace civicpulse::kafka::internal
