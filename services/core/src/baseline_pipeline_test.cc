// The seasonal baseline end to end in the pure core: weeks of events through a
// PartitionAggregator (which seals the hourly history), its published records into an
// IndicatorStore (which computes the expectation), with and without a checkpoint restore in
// between. A drop in one area shows in that area's ratio only.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "civicpulse/core/indicator_store.h"
#include "indicator_test_families.h"
#include "civicpulse/core/partition_aggregator.h"
#include "civicpulse/core/seasonal_baseline.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "civicpulse/v1/checkpoint.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

constexpr int64_t kMonday = 1'793'577'600'000;  // 2026-11-02T00:00:00Z, a Monday
constexpr int kWeeks = 4;                        // of history before the current week
// The current week's Monday: events until 12:00; area A drops to 30% from 10:00.
constexpr int64_t kNowMonday = kMonday + kWeeks * kWeekMs;
constexpr int64_t kEnd = kNowMonday + 12 * kHourMs;
constexpr int64_t kDropStart = kNowMonday + 10 * kHourMs;

int EventsInHour(int64_t hour_start, const std::string& area) {
  const int64_t hour_of_day = (hour_start % kDayMs) / kHourMs;
  const int normal = hour_of_day >= 8 && hour_of_day < 20 ? 50 : 30;
  if (area == "A" && hour_start >= kDropStart) return normal * 3 / 10;
  return normal;
}

std::vector<Event> Stream() {
  std::vector<Event> out;
  int id = 0;
  for (int64_t h = kMonday; h < kEnd; h += kHourMs) {
    for (const std::string area : {"A", "B"}) {
      const int n = EventsInHour(h, area);
      for (int j = 0; j < n; ++j) {
        Event& e = out.emplace_back();
        e.event_id = "e-" + std::to_string(++id);
        e.SetKind(Kind::kWatchReport);
        e.area = area;
        e.participant = area + "-p" + std::to_string(j % 20);
        e.has_participant = true;
        e.occurred_at_ms = h + j * kHourMs / n;
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Event& a, const Event& b) {
    return a.occurred_at_ms < b.occurred_at_ms;
  });
  return out;
}

// Everything the aggregator would publish in a snapshot batch, applied to a fresh store.
std::vector<TestFamily> Publish(PartitionAggregator* agg) {
  IndicatorStore store(IndicatorOptions{});
  v1::PartialAggregate record;
  record.set_source_topic("events");
  record.set_source_partition(0);
  record.set_source_offset(1);
  std::vector<v1::HourlyHistory> history;
  agg->TakeHistory(&history, /*all=*/true);
  for (v1::HourlyHistory& h : history) {
    *record.mutable_history() = std::move(h);
    store.Apply(record);
  }
  std::vector<v1::Cell> cells;
  agg->TakeCells(&cells, /*all=*/true);
  for (v1::Cell& c : cells) {
    *record.mutable_cell() = std::move(c);
    store.Apply(record);
  }
  agg->FillProgress(record.mutable_progress());
  store.Apply(record);
  return TestFamilies(store.Compute());
}

// name{area,kind,window} -> value (window "" for families without it).
std::map<std::string, double> Flatten(const std::vector<TestFamily>& families) {
  std::map<std::string, double> out;
  for (const TestFamily& f : families) {
    if (f.name.find("expected") == std::string::npos &&
        f.name.find("baseline") == std::string::npos && f.name.find("ratio") == std::string::npos) {
      continue;
    }
    for (const auto& s : f.series) {
      std::string key = f.name + "{";
      for (const auto& [k, v] : s.labels) key += k + "=" + v + ",";
      out[key + "}"] = s.value;
    }
  }
  return out;
}

std::string Key(const std::string& name, const std::string& area, const std::string& kind,
                const std::string& window = "") {
  std::string key = name + "{area=" + area + ",kind=" + kind + ",";
  if (!window.empty()) key += "window=" + window + ",";
  return key + "}";
}

class BaselinePipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    agg_.EnableCheckpoints();
    const std::vector<Event> events = Stream();
    int64_t last_tick = 0;
    for (const Event& e : events) {
      ASSERT_EQ(agg_.Apply(e, e.occurred_at_ms), Outcome::kApplied);
      if (e.occurred_at_ms - last_tick >= kHourMs) {
        agg_.Tick(e.occurred_at_ms);
        last_tick = e.occurred_at_ms;
      }
    }
    agg_.Tick(events.back().occurred_at_ms);
  }

  AreaCap areas_{AreaCapOptions{}};
  PartitionAggregator agg_{EngineOptions{}, &areas_};
};

TEST_F(BaselinePipelineTest, DropShowsInThatAreaOnly) {
  EXPECT_EQ(agg_.history_start_ms(), kMonday);
  const std::map<std::string, double> m = Flatten(Publish(&agg_));
  const std::string kind = "watch_report";
  for (const std::string area : {"A", "B", "all"}) {
    EXPECT_EQ(m.at(Key("civicpulse_baseline_ready", area, kind)), 1) << area;
    EXPECT_EQ(m.at(Key("civicpulse_baseline_ready", area, "all")), 1) << area;
  }
  // W = 11:55; the 1h window [10:55, 11:55) expects 5/60 of 10:00-11:00 and 55/60 of
  // 11:00-12:00 of a normal Monday: 50 events, 20 people.
  EXPECT_NEAR(m.at(Key("civicpulse_expected_events", "A", kind, "1h")), 50, 1e-9);
  EXPECT_NEAR(m.at(Key("civicpulse_expected_events", "B", kind, "1h")), 50, 1e-9);
  EXPECT_NEAR(m.at(Key("civicpulse_expected_active_participants", "A", kind, "1h")), 20, 1e-9);
  EXPECT_NEAR(m.at(Key("civicpulse_expected_events", "all", "all", "1h")), 100, 1e-9);
  EXPECT_NEAR(m.at(Key("civicpulse_participation_ratio", "A", kind, "1h")), 0.3, 0.03);
  EXPECT_NEAR(m.at(Key("civicpulse_participation_ratio", "B", kind, "1h")), 1.0, 0.03);
  EXPECT_NEAR(m.at(Key("civicpulse_participation_ratio", "all", "all", "1h")), 0.65, 0.03);
  // The 24h window holds two hours of the drop: a small dent.
  EXPECT_LT(m.at(Key("civicpulse_participation_ratio", "A", kind, "24h")), 0.97);
  EXPECT_NEAR(m.at(Key("civicpulse_participation_ratio", "B", kind, "24h")), 1.0, 0.01);
  // Distinct counts do not add up: no participants expectation for unions.
  EXPECT_EQ(m.count(Key("civicpulse_expected_active_participants", "all", "all", "1h")), 0u);
  for (const auto& [key, value] : m) {
    EXPECT_TRUE(std::isfinite(value)) << key;
  }
}

TEST_F(BaselinePipelineTest, RestoredStateGivesTheSameExpectation) {
  std::vector<v1::StatePiece> pieces;
  agg_.WriteSnapshot(/*max_piece_bytes=*/16 * 1024, &pieces);
  AreaCap areas(AreaCapOptions{});
  PartitionAggregator restored(EngineOptions{}, &areas);
  for (const v1::StatePiece& piece : pieces) {
    ASSERT_TRUE(restored.ApplyPiece(piece, kEnd).ok());
  }
  EXPECT_EQ(restored.history_start_ms(), kMonday);
  EXPECT_EQ(Flatten(Publish(&restored)), Flatten(Publish(&agg_)));
}

TEST_F(BaselinePipelineTest, HistoryIsBoundedAndSealedOnce) {
  std::vector<v1::HourlyHistory> history;
  agg_.TakeHistory(&history, /*all=*/false);
  size_t hours = 0;
  for (const v1::HourlyHistory& h : history) {
    hours += static_cast<size_t>(h.hour_start_unix_seconds_size());
  }
  // Every sealed hour of both areas once: 4 weeks and 10 hours (12:00 - 5 min - 1 h grace).
  EXPECT_EQ(hours, 2u * (kWeeks * 7 * 24 + 10));
  history.clear();
  agg_.TakeHistory(&history, /*all=*/false);
  EXPECT_TRUE(history.empty());
}

}  // namespace
}  // namespace civicpulse::core
