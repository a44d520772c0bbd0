#include "fetch_wake_policy.h"

#include "gtest/gtest.h"

namespace civicpulse::kafka::internal {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

absl::Time At(int ms) { return kT0 + absl::Milliseconds(ms); }

TEST(FetchWakePolicyTest, WakesOnceAFullQueueHasDrainedToHalf) {
  FetchWakePolicy policy;
  EXPECT_FALSE(policy.Sample(40'000, At(0)));  // the fetcher filled it and stopped
  EXPECT_FALSE(policy.Sample(30'000, At(10)));
  EXPECT_FALSE(policy.Sample(20'000, At(20)));  // half: not below it yet
  EXPECT_TRUE(policy.Sample(19'999, At(30)));
}

TEST(FetchWakePolicyTest, NeverWhileTheQueueFills) {
  FetchWakePolicy policy;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(policy.Sample(1000 + 500 * i, At(10 * i)));
}

TEST(FetchWakePolicyTest, NeverForAConsumerThatKeepsUp) {
  FetchWakePolicy policy;  // min_peak 1000: a queue that never held that much
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(policy.Sample(i % 2 == 0 ? 999 : 0, At(10 * i)));
}

// A policy that saw 10,000 queued records drain to 4,000 and woke the fetcher then, at 10 ms.
FetchWakePolicy WokenOnce() {
  FetchWakePolicy policy;
  policy.Sample(10'000, At(0));
  EXPECT_TRUE(policy.Sample(4'000, At(10)));
  policy.Woke(4'000, At(10));
  return policy;
}

TEST(FetchWakePolicyTest, AtMostOnceAMinInterval) {
  FetchWakePolicy policy = WokenOnce();
  // The wake-up found nothing to fetch (the queue went on draining): the next waits 50 ms.
  EXPECT_FALSE(policy.Sample(1'500, At(20)));
  EXPECT_FALSE(policy.Sample(1'000, At(59)));
  EXPECT_TRUE(policy.Sample(1'000, At(60)));
}

TEST(FetchWakePolicyTest, MeasuresTheNextDrainFromWhatTheQueueHeldAfterTheWakeUp) {
  FetchWakePolicy policy = WokenOnce();
  // The fetcher refilled it to 12,000 and stopped again: half of that is the next mark.
  EXPECT_FALSE(policy.Sample(12'000, At(100)));
  EXPECT_FALSE(policy.Sample(6'000, At(150)));
  EXPECT_TRUE(policy.Sample(5'999, At(160)));
}

TEST(FetchWakePolicyTest, ForgetsAnOldPeak) {
  FetchWakePolicy policy;
  policy.Sample(50'000, At(0));
  // A burst long ago, then a steady queue of 3,000: not a drained queue.
  EXPECT_FALSE(policy.Sample(3'000, At(2'001)));
  EXPECT_FALSE(policy.Sample(3'000, At(2'100)));
  EXPECT_TRUE(policy.Sample(1'499, At(2'200)));
}

}  // namespace
}  // namespace civicpulse::kafka::internal
