#include "civicpulse/core/event_id_filter.h"

#include <string>

#include "civicpulse/core/engine_options.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

TEST(EventIdFilterTest, SecondSightingWithinHorizonIsDuplicate) {
  EventIdFilter f(7 * kDayMs, 1000);
  EXPECT_FALSE(f.SeenBefore("nw-1", 1000));
  EXPECT_TRUE(f.SeenBefore("nw-1", 1000));
  EXPECT_TRUE(f.SeenBefore("nw-1", 1000 + 7 * kDayMs));   // exactly at the horizon
  EXPECT_TRUE(f.SeenBefore("nw-1", 1000 - kHourMs));       // earlier, still within
  EXPECT_FALSE(f.SeenBefore("nw-2", 1000));
}

TEST(EventIdFilterTest, ReuseAfterHorizonIsANewEvent) {
  EventIdFilter f(7 * kDayMs, 1000);
  EXPECT_FALSE(f.SeenBefore("a", 0));
  EXPECT_FALSE(f.SeenBefore("a", 7 * kDayMs + 1));
  EXPECT_TRUE(f.SeenBefore("a", 7 * kDayMs + 2));
}

TEST(EventIdFilterTest, ExpireForgetsOnlyIdsOutsideTheHorizon) {
  EventIdFilter f(kDayMs, 1000);
  for (int i = 0; i < 100; ++i) f.SeenBefore("old-" + std::to_string(i), 0);
  for (int i = 0; i < 100; ++i) f.SeenBefore("new-" + std::to_string(i), 2 * kDayMs);
  EXPECT_EQ(f.size(), 200u);
  f.Expire(kDayMs + kHourMs);  // cutoff = 1h: nothing at 0 can be duplicated by t >= 25h
  EXPECT_EQ(f.size(), 100u);
  EXPECT_TRUE(f.SeenBefore("new-5", 2 * kDayMs));
}

// Expire skips the walk while nothing remembered is old enough; whatever lowers the
// earliest time held since (a new id, a reused one, a restored one) makes it walk again.
TEST(EventIdFilterTest, ExpireAfterASkippedSweepStillForgetsEarlierIds) {
  for (int which = 0; which < 3; ++which) {
    EventIdFilter f(kHourMs, 1000);
    EXPECT_FALSE(f.SeenBefore("a", 10 * kHourMs));
    f.Expire(10 * kHourMs);  // cutoff 9h: nothing is older
    EXPECT_EQ(f.size(), 1u);
    switch (which) {
      case 0:
        EXPECT_FALSE(f.SeenBefore("b", 3 * kHourMs));
        break;
      case 1:
        EXPECT_FALSE(f.SeenBefore("a", kHourMs));
        break;  // reused: now at 1h
      default:
        f.Restore(EventIdFilter::Key("b"), 2 * kHourMs);
        break;
    }
    f.Expire(11 * kHourMs);  // cutoff 10h: what is earlier goes
    EXPECT_EQ(f.size(), which == 1 ? 0u : 1u) << which;
    EXPECT_EQ(f.SeenBefore("a", 10 * kHourMs + 1), which != 1) << which;
  }
}

TEST(EventIdFilterTest, MemoryIsBoundedByMaxEntries) {
  EventIdFilter f(7 * kDayMs, 10000);
  for (int i = 0; i < 1000000; ++i) f.SeenBefore("id-" + std::to_string(i), i);
  EXPECT_LE(f.size(), 10000u);
  EXPECT_GT(f.evicted(), 0u);
  // The newest are kept.
  EXPECT_TRUE(f.SeenBefore("id-999999", 999999));
  EXPECT_LT(f.MemoryBytes(), 1024u * 1024);
}

}  // namespace
}  // namespace civicpulse::core
