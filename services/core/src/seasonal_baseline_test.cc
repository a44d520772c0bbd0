#include "civicpulse/core/seasonal_baseline.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

// A Monday 00:00 UTC (2026-11-02).
constexpr int64_t kMonday = 1'793'577'600'000;
constexpr WindowSpec k1h = kWindows[0];
constexpr WindowSpec k24h = kWindows[1];
constexpr WindowSpec k7d = kWindows[2];

// Events per hour: 10 + hour of day, every day, for `weeks` weeks from kMonday.
HourlyFigures Steady(int weeks) {
  HourlyFigures hours;
  for (int64_t h = 0; h < weeks * 7 * 24; ++h) {
    HourFigures& f = hours[kMonday + h * kHourMs];
    f.events = 10 + static_cast<uint64_t>(h % 24);
    f.participants_1h = static_cast<int64_t>(f.events) / 2;
    f.participants_24h = 100;
    if ((h + 1) % 24 == 0) f.participants_7d = 300;
  }
  return hours;
}

TEST(SeasonalBaselineTest, SteadyWeeksGiveTheSameHourOfTheWeek) {
  const HourlyFigures hours = Steady(4);
  BaselineOptions options;
  // Watermark on the fifth Monday at 10:00: the 1h window is [09:00, 10:00).
  const int64_t watermark = kMonday + 4 * kWeekMs + 10 * kHourMs;
  const int64_t start = WindowStart(watermark, k1h);
  EXPECT_EQ(start, watermark - kHourMs);
  const WeeklyValues v = SameWindowInPreviousWeeks(hours, start, k1h, kMonday, options);
  for (int k = 0; k < 4; ++k) {
    EXPECT_TRUE(v.usable[k]) << k;
    EXPECT_DOUBLE_EQ(v.events[k], 19) << k;
  }
  for (int k = 4; k < kMaxBaselineWeeks; ++k) EXPECT_FALSE(v.usable[k]) << k;
  const Expectation e = Expect(v, options);
  EXPECT_TRUE(e.ready);
  EXPECT_EQ(e.weeks_used, 4);
  EXPECT_DOUBLE_EQ(e.events, 19);
  EXPECT_DOUBLE_EQ(e.participants, 9);  // 19 / 2, the hour that ends at 10:00
}

TEST(SeasonalBaselineTest, LongerWindowsSumTheirHours) {
  const HourlyFigures hours = Steady(5);
  BaselineOptions options;
  const int64_t watermark = kMonday + 5 * kWeekMs;  // a day boundary
  const Expectation day = Expect(
      SameWindowInPreviousWeeks(hours, WindowStart(watermark, k24h), k24h, kMonday, options),
      options);
  EXPECT_TRUE(day.ready);
  EXPECT_DOUBLE_EQ(day.events, 24 * 10 + 23 * 24 / 2);
  EXPECT_DOUBLE_EQ(day.participants, 100);
  // The 7d window needs a week more history before each previous week: weeks 1..4 exist.
  const Expectation week = Expect(
      SameWindowInPreviousWeeks(hours, WindowStart(watermark, k7d), k7d, kMonday, options),
      options);
  EXPECT_TRUE(week.ready);
  EXPECT_EQ(week.usable_weeks, 4);
  EXPECT_DOUBLE_EQ(week.events, 7 * (24 * 10 + 23 * 24 / 2));
  EXPECT_DOUBLE_EQ(week.participants, 300);
}

TEST(SeasonalBaselineTest, PartialHoursCountInProportion) {
  const HourlyFigures hours = Steady(4);
  BaselineOptions options;
  // [09:30, 10:30): half of hour 9 (19 events) and half of hour 10 (20 events).
  const int64_t start = kMonday + 4 * kWeekMs + 9 * kHourMs + 30 * kMinuteMs;
  const Expectation e =
      Expect(SameWindowInPreviousWeeks(hours, start, k1h, kMonday, options), options);
  EXPECT_DOUBLE_EQ(e.events, 19.5);
  // Participants of the hours ending at 10:00 (9) and 11:00 (10), halfway.
  EXPECT_DOUBLE_EQ(e.participants, 9.5);
}

TEST(SeasonalBaselineTest, ReadyOnlyWithEnoughPreviousWeeks) {
  const HourlyFigures hours = Steady(3);
  BaselineOptions options;
  const int64_t start = kMonday + 2 * kWeekMs + 12 * kHourMs;  // two previous weeks exist
  EXPECT_FALSE(Expect(SameWindowInPreviousWeeks(hours, start, k1h, kMonday, options), options)
                   .ready);
  const int64_t later = start + kWeekMs;  // three
  EXPECT_TRUE(Expect(SameWindowInPreviousWeeks(hours, later, k1h, kMonday, options), options)
                  .ready);
  // No history at all: never ready.
  EXPECT_FALSE(
      Expect(SameWindowInPreviousWeeks(hours, later, k1h, /*history_start_ms=*/0, options),
             options)
          .ready);
  // Weeks with no event inside the history are zeros, not missing.
  const WeeklyValues empty = SameWindowInPreviousWeeks({}, later, k1h, kMonday, options);
  const Expectation e = Expect(empty, options);
  EXPECT_TRUE(e.ready);
  EXPECT_DOUBLE_EQ(e.events, 0);
}

TEST(SeasonalBaselineTest, HolidaysAreNotNormalWeeks) {
  HourlyFigures hours = Steady(4);
  // The Monday of the second week was a holiday with half the traffic.
  for (int h = 0; h < 24; ++h) hours[kMonday + kWeekMs + h * kHourMs].events /= 2;
  BaselineOptions options;
  options.holidays = {kMonday + kWeekMs};
  const int64_t start = kMonday + 4 * kWeekMs + 9 * kHourMs;
  const WeeklyValues v = SameWindowInPreviousWeeks(hours, start, k1h, kMonday, options);
  EXPECT_TRUE(v.usable[0]);
  EXPECT_TRUE(v.usable[1]);
  EXPECT_FALSE(v.usable[2]);  // week 4 - 3 = 1, the holiday
  EXPECT_TRUE(v.usable[3]);
  const Expectation e = Expect(v, options);
  EXPECT_EQ(e.usable_weeks, 3);
  EXPECT_DOUBLE_EQ(e.events, 19);
  // With two weeks left the baseline is not ready.
  options.holidays.push_back(kMonday + 2 * kWeekMs);
  EXPECT_FALSE(Expect(SameWindowInPreviousWeeks(hours, start, k1h, kMonday, options), options)
                   .ready);
}

TEST(SeasonalBaselineTest, AnomalousWeeksAreKeptOut) {
  WeeklyValues v;
  v.empty = false;
  const double events[] = {100, 30, 98, 102};  // week 2 had a drop
  for (int k = 0; k < 4; ++k) {
    v.usable[k] = true;
    v.events[k] = events[k];
    v.participants[k] = events[k] / 2;
  }
  BaselineOptions options;
  const Expectation e = Expect(v, options);
  EXPECT_TRUE(e.ready);
  EXPECT_EQ(e.usable_weeks, 4);
  EXPECT_EQ(e.weeks_used, 3);
  EXPECT_DOUBLE_EQ(e.events, 100);  // not (98 + 100) / 2 with the drop in
  EXPECT_DOUBLE_EQ(e.participants, 50);
  // Poisson noise in small counts is not an anomaly.
  const double small[] = {4, 0, 7, 3};
  for (int k = 0; k < 4; ++k) v.events[k] = small[k];
  EXPECT_EQ(Expect(v, options).weeks_used, 4);
}

TEST(SeasonalBaselineTest, UnionsAddMembersWeekByWeek) {
  WeeklyValues a, b, sum;
  a.empty = b.empty = false;
  for (int k = 0; k < 3; ++k) {
    a.usable[k] = b.usable[k] = true;
    a.events[k] = 10;
    b.events[k] = 5 + k;
  }
  b.usable[2] = false;
  sum.Add(a);
  sum.Add(b);
  EXPECT_FALSE(sum.empty);
  EXPECT_DOUBLE_EQ(sum.events[1], 16);
  EXPECT_TRUE(sum.usable[1]);
  EXPECT_FALSE(sum.usable[2]);
}

TEST(SeasonalBaselineTest, RatioIsNeverNaN) {
  EXPECT_DOUBLE_EQ(ParticipationRatio(50, 100), 0.5);
  EXPECT_DOUBLE_EQ(ParticipationRatio(0, 0), 1);
  EXPECT_DOUBLE_EQ(ParticipationRatio(3, 0), 3);
  EXPECT_DOUBLE_EQ(ParticipationRatio(0, 20), 0);
  EXPECT_FALSE(std::isnan(ParticipationRatio(0, 0)));
}

TEST(SeasonalBaselineTest, ParsesHolidayDates) {
  auto days = ParseHolidays("2026-12-25, 2026-12-24\n# boxing day\n2026-12-26 # yes\n", "f");
  ASSERT_TRUE(days.ok()) << days.status();
  ASSERT_EQ(days->size(), 3u);
  EXPECT_EQ((*days)[0], 1'798'070'400'000);  // 2026-12-24T00:00:00Z
  EXPECT_EQ((*days)[2] - (*days)[0], 2 * kDayMs);
  EXPECT_TRUE(ParseHolidays("", "f").ok());
  auto bad = ParseHolidays("2026-12-25\n2026-13-01", "holidays.txt");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("holidays.txt:2"));
  EXPECT_FALSE(ParseHolidays("25/12/2026", "f").ok());
}

}  // namespace
}  // namespace civicpulse::core
