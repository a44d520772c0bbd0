// IndicatorStore's incremental Compute against a merge from scratch: random sequences of
// partial aggregates from several source partitions (new and replaced cells, increments of
// held cells, late updates
// to cells whose window part was already merged, watermarks that expire cells, snapshot
// batches that replace a source partition's state, malformed records), with a Compute of
// the long-lived store after most steps, each compared with a fresh store that is given the
// same operations and computes once.
#include "civicpulse/core/indicator_store.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "civicpulse/core/participant_sketch.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "indicator_test_families.h"

namespace civicpulse::core {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000 / kDayMs * kDayMs;

using Metrics = std::map<std::string, double>;

Metrics Flatten(const Indicators& indicators) {
  Metrics out;
  for (const TestFamily& f : TestFamilies(indicators)) {
    for (const TestFamily::Series& s : f.series) {
      std::vector<std::string> parts;
      for (const auto& [k, v] : s.labels) parts.push_back(absl::StrCat(k, "=", v));
      const std::string key = absl::StrCat(f.name, "{", absl::StrJoin(parts, ","), "}");
      EXPECT_EQ(out.count(key), 0u) << "series twice: " << key;
      out[key] = s.value;
    }
  }
  return out;
}

// Distinct counts and ratios of integers must be equal; sums of fractions may differ in the
// last bits (merged in another grouping).
void ExpectSame(const Metrics& want, const Metrics& got, const std::string& context) {
  std::vector<std::string> diffs;
  for (const auto& [key, value] : want) {
    auto it = got.find(key);
    if (it == got.end()) {
      diffs.push_back(absl::StrCat("missing ", key));
    } else if (std::abs(it->second - value) > 1e-9 * std::max(1.0, std::abs(value))) {
      diffs.push_back(absl::StrCat(key, ": from scratch ", value, ", incremental ", it->second));
    }
  }
  for (const auto& [key, value] : got) {
    if (!want.contains(key)) diffs.push_back(absl::StrCat("unexpected ", key));
  }
  EXPECT_TRUE(diffs.empty()) << context << ": " << diffs.size() << " differences:\n  "
                             << absl::StrJoin(diffs.begin(),
                                              diffs.begin() + std::min<size_t>(diffs.size(), 30),
                                              "\n  ");
}

// One operation on a store: a record, or a source partition's reset.
struct Op {
  bool reset = false;
  int32_t partition = 0;
  v1::PartialAggregate record;
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {
    for (int p = 0; p < kPartitions; ++p) watermark_[p] = kT0 + 8 * kDayMs;
  }

  // The next few operations.
  std::vector<Op> Step() {
    std::vector<Op> ops;
    const int p = static_cast<int>(rng_() % kPartitions);
    const double u = Unit();
    if (u < 0.55) {
      ops.push_back(CellOp(p, RecentStart(p)));
    } else if (u < 0.70) {
      ops.push_back(CellOp(p, OldStart(p)));  // a late update to an already merged cell
    } else if (u < 0.88) {
      // Progress: the watermark moves by seconds to (rarely) hours, expiring cells.
      const double v = Unit();
      watermark_[p] += v < 0.6 ? static_cast<int64_t>(Unit() * 90'000)
                               : v < 0.95 ? static_cast<int64_t>(Unit() * 40 * kMinuteMs)
                                          : static_cast<int64_t>(Unit() * 30 * kHourMs);
      ops.push_back(ProgressOp(p));
    } else if (u < 0.96) {
      // A snapshot batch: the source partition's whole state again, after a reset.
      Op reset;
      reset.reset = true;
      reset.partition = p;
      ops.push_back(reset);
      for (auto& [key, record] : held_[p]) {
        record.set_source_offset(++offset_[p]);
        Op op;
        op.partition = p;
        op.record = record;
        ops.push_back(op);
      }
      ops.push_back(ProgressOp(p));
    } else if (u < 0.98) {
      Op op = CellOp(p, RecentStart(p));
      op.record.mutable_cell()->set_width_seconds(7);  // malformed: rejected, ignored
      ops.push_back(op);
    } else {
      ops.push_back(CellOp(p, watermark_[p] + static_cast<int64_t>(Unit() * 2 * kHourMs)));
    }
    return ops;
  }

 private:
  static constexpr int kPartitions = 3;
  static constexpr int kAreas = 6;  // 5 keep their name with max_areas 5

  double Unit() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  int64_t RecentStart(int p) {
    return watermark_[p] - static_cast<int64_t>(Unit() * 15 * kMinuteMs) + 5 * kMinuteMs;
  }
  int64_t OldStart(int p) {
    const double v = Unit();
    const int64_t back = v < 0.4 ? static_cast<int64_t>(Unit() * kHourMs)
                                 : v < 0.8 ? static_cast<int64_t>(Unit() * kDayMs)
                                           : static_cast<int64_t>(Unit() * 7 * kDayMs);
    return watermark_[p] - back;
  }

  void Sketch(int people, ParticipantSketch* sketch) {
    for (int i = 0; i < people; ++i) {
      const int person = static_cast<int>(std::pow(Unit(), 2) * 5000);
      sketch->Add(HashParticipant(absl::StrCat("p-", person)), 1 + rng_() % 3);
    }
  }

  Op CellOp(int p, int64_t t) {
    const int r = static_cast<int>(rng_() % kWindowCount);
    const int64_t width = kWindows[r].cell_ms;
    const int64_t start = t / width * width;
    const std::string area = absl::StrCat("A", std::min(rng_() % kAreas, rng_() % kAreas));
    const int kind = 1 + static_cast<int>(rng_() % kKindCount);
    v1::PartialAggregate record;
    record.set_source_topic("civicpulse.events.v1");
    record.set_source_partition(p);
    record.set_source_offset(++offset_[p]);
    v1::Cell* cell = record.mutable_cell();
    cell->set_area(area);
    cell->set_kind(static_cast<v1::Kind>(kind));
    cell->set_width_seconds(static_cast<int32_t>(width / 1000));
    cell->set_start_unix_seconds(start / 1000);
    const int people = Unit() < 0.03 ? 2500 : 1 + static_cast<int>(rng_() % 12);
    ParticipantSketch participants, fresh, aged;
    Sketch(people, &participants);
    Sketch(people / 3, &fresh);
    Sketch(people / 4, &aged);
    participants.ToProto(cell->mutable_participants());
    fresh.ToProto(cell->mutable_new_participants());
    if (!aged.empty()) aged.ToProto(&(*cell->mutable_participants_by_age())["25-34"]);
    const uint64_t events = participants.total_events();
    cell->set_events(events + rng_() % 3);
    cell->set_attributed_events(events);
    cell->set_collective_events(rng_() % (events + 1));
    cell->set_public_body_events(rng_() % (events + 1));
    cell->set_volunteer_seconds(kind == 2 ? 0.1 * static_cast<double>(rng_() % 100000) : 0);
    cell->set_recycled_grams(kind == 3 ? 0.3 * static_cast<double>(rng_() % 100000) : 0);
    const auto key = std::make_tuple(area, kind, r, start);
    auto old = held_[p].find(key);
    if (old != held_[p].end() && Unit() < 0.5) {
      // An increment instead (as an aggregator sends for a large cell): these people join
      // the cell held, and the sums are those of the grown cell.
      v1::Cell* whole = old->second.mutable_cell();
      auto grow = [](const ParticipantSketch& added, v1::ParticipantSketch* held) {
        ParticipantSketch merged;
        EXPECT_TRUE(merged.FromProto(*held).ok());
        merged.Merge(added);
        merged.ToProto(held);
      };
      grow(participants, whole->mutable_participants());
      grow(fresh, whole->mutable_new_participants());
      if (!aged.empty()) grow(aged, &(*whole->mutable_participants_by_age())["25-34"]);
      whole->set_events(whole->events() + cell->events());
      whole->set_attributed_events(whole->attributed_events() + cell->attributed_events());
      whole->set_collective_events(whole->collective_events() + cell->collective_events());
      whole->set_public_body_events(whole->public_body_events() + cell->public_body_events());
      whole->set_volunteer_seconds(whole->volunteer_seconds() + cell->volunteer_seconds());
      whole->set_recycled_grams(whole->recycled_grams() + cell->recycled_grams());
      old->second.set_source_offset(record.source_offset());
      cell->set_increment(true);
      cell->set_events(whole->events());
      cell->set_attributed_events(whole->attributed_events());
      cell->set_collective_events(whole->collective_events());
      cell->set_public_body_events(whole->public_body_events());
      cell->set_volunteer_seconds(whole->volunteer_seconds());
      cell->set_recycled_grams(whole->recycled_grams());
    } else {
      held_[p][key] = record;
    }
    Op op;
    op.partition = p;
    op.record = std::move(record);
    return op;
  }

  Op ProgressOp(int p) {
    Op op;
    op.partition = p;
    v1::PartialAggregate& record = op.record;
    record.set_source_topic("civicpulse.events.v1");
    record.set_source_partition(p);
    record.set_source_offset(++offset_[p]);
    v1::PartitionProgress* progress = record.mutable_progress();
    progress->set_watermark_unix_ms(watermark_[p]);
    for (const auto& [key, cell] : held_[p]) {
      totals_[p][{std::get<0>(key), std::get<1>(key)}] += 0;
    }
    for (auto& [key, events] : totals_[p]) {
      events += rng_() % 4;
      v1::AreaKindTotals* t = progress->add_totals();
      t->set_area(key.first);
      t->set_kind(static_cast<v1::Kind>(key.second));
      t->set_events(events);
      for (int i = 0; i < kCoproductionTypeCount; ++i) t->add_coproduction_events(events / (i + 1));
      t->set_last_event_unix_ms(watermark_[p]);
    }
    // What the aggregator forgets once out of every window.
    for (auto it = held_[p].begin(); it != held_[p].end();) {
      const int r = std::get<2>(it->first);
      if (std::get<3>(it->first) < watermark_[p] - kWindows[r].length_ms) {
        it = held_[p].erase(it);
      } else {
        ++it;
      }
    }
    return op;
  }

  std::mt19937_64 rng_;
  std::array<int64_t, kPartitions> watermark_ = {};
  std::array<int64_t, kPartitions> offset_ = {};
  // The current cell records of each partition, by (area, kind, resolution, start).
  std::array<std::map<std::tuple<std::string, int, int, int64_t>, v1::PartialAggregate>,
             kPartitions>
      held_;
  std::array<std::map<std::pair<std::string, int>, uint64_t>, kPartitions> totals_;
};

IndicatorOptions Options() {
  IndicatorOptions o;
  o.areas.max_areas = 5;
  return o;
}

void Perform(IndicatorStore* store, const Op& op) {
  if (op.reset) {
    store->ResetSource("civicpulse.events.v1", op.partition);
  } else {
    store->Apply(op.record);
  }
}

class IncrementalComputeTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(IncrementalComputeTest, MatchesAMergeFromScratchAfterEveryStep) {
  Generator gen(GetParam());
  IndicatorStore incremental(Options());
  std::vector<Op> log;
  std::mt19937_64 rng(GetParam() * 7 + 1);
  int compared = 0;
  for (int step = 0; step < 600 && !HasFailure(); ++step) {
    for (Op& op : gen.Step()) {
      Perform(&incremental, op);
      log.push_back(std::move(op));
    }
    if (rng() % 3 == 0) continue;  // sometimes several steps between merges
    const Metrics got = Flatten(incremental.Compute());
    if (step % 12 != 0 && step != 599) continue;  // the fresh store's merge is the slow part
    IndicatorStore scratch(Options());
    for (const Op& op : log) Perform(&scratch, op);
    ExpectSame(Flatten(scratch.Compute()), got, absl::StrCat("step ", step));
    EXPECT_EQ(incremental.rejected_records(), scratch.rejected_records());
    ++compared;
  }
  EXPECT_GT(compared, 20);
  EXPECT_GT(incremental.rejected_records(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, IncrementalComputeTest, ::testing::Values(1, 2, 3, 4, 5));

TEST(IncrementalComputeTest, AComputeWithoutChangesChangesNothing) {
  Generator gen(9);
  IndicatorStore store(Options());
  for (int step = 0; step < 300; ++step) {
    for (const Op& op : gen.Step()) Perform(&store, op);
  }
  const Metrics first = Flatten(store.Compute());
  EXPECT_EQ(Flatten(store.Compute()), first);
}

// A whole 1-hour cell of W01's watch reports on source partition 0 of "events", with one
// event by each of `people`.
v1::PartialAggregate HourCell(int64_t start, int64_t offset,
                              const std::vector<std::string>& people) {
  v1::PartialAggregate record;
  record.set_source_topic("events");
  record.set_source_partition(0);
  record.set_source_offset(offset);
  v1::Cell* c = record.mutable_cell();
  c->set_area("W01");
  c->set_kind(v1::Kind::KIND_WATCH_REPORT);
  c->set_width_seconds(3600);
  c->set_start_unix_seconds(start / 1000);
  ParticipantSketch s;
  for (const std::string& p : people) s.Add(HashParticipant(p));
  s.ToProto(c->mutable_participants());
  c->set_events(people.size());
  return record;
}

// Progress of source partition 0 of "events": its watermark.
v1::PartialAggregate Progress(int64_t watermark, int64_t offset) {
  v1::PartialAggregate record;
  record.set_source_topic("events");
  record.set_source_partition(0);
  record.set_source_offset(offset);
  record.mutable_progress()->set_watermark_unix_ms(watermark);
  return record;
}

TEST(IncrementalComputeTest, ALateUpdateOfAMergedHourChangesTheWeek) {
  IndicatorStore store(IndicatorOptions{});
  auto cell = HourCell;
  auto progress = Progress;
  const int64_t w = kT0 + 10 * kDayMs;
  // Hours 3 days back (a whole block of the 7d window) and 3 hours back.
  store.Apply(cell(w - 3 * kDayMs, 1, {"a", "b"}));
  store.Apply(cell(w - 3 * kHourMs, 2, {"c"}));
  store.Apply(progress(w, 3));
  auto week = [&store] {
    for (const SeriesIndicators& s : store.Compute().series) {
      if (s.city && !s.kind.has_value()) return s.active_participants[2];
    }
    return -1.0;
  };
  EXPECT_EQ(week(), 3);
  store.Apply(cell(w - 3 * kDayMs, 4, {"a", "b", "d", "e"}));  // a newer snapshot of it
  EXPECT_EQ(week(), 5);
  store.Apply(cell(w - 3 * kDayMs, 1, {"a"}));  // an older one: ignored
  EXPECT_EQ(week(), 5);
  store.Apply(progress(w + 7 * kDayMs - 4 * kHourMs, 5));  // the old hour expires
  EXPECT_EQ(week(), 1);
  store.ResetSource("events", 0);
  EXPECT_EQ(week(), 0);
}

// An increment (v1::Cell.increment) merges into the cell held: its participants join, its sums
// replace; one with a malformed sketch is rejected and changes nothing.
TEST(IncrementalComputeTest, AnIncrementMergesIntoTheCellHeld) {
  IndicatorStore store(IndicatorOptions{});
  const int64_t w = kT0 + 10 * kDayMs;
  const int64_t hour = w - 3 * kHourMs;
  auto cell = [&](int64_t offset, bool increment, const std::vector<std::string>& people,
                  double volunteer_seconds) {
    v1::PartialAggregate record = HourCell(hour, offset, people);
    record.mutable_cell()->set_increment(increment);
    record.mutable_cell()->set_volunteer_seconds(volunteer_seconds);
    return record;
  };
  const v1::PartialAggregate progress = Progress(w, 3);
  // The city's distinct participants and volunteer time over 7 days.
  auto figures = [&store] {
    const Indicators indicators = store.Compute();
    for (const SeriesIndicators& s : indicators.series) {
      if (s.city && !s.kind.has_value()) {
        return std::make_pair(s.active_participants[2],
                              indicators.areas.back().windows[2].volunteer_seconds);
      }
    }
    return std::make_pair(-1.0, -1.0);
  };
  store.Apply(cell(1, /*increment=*/false, {"a", "b"}, 2));
  store.Apply(progress);
  EXPECT_EQ(figures(), std::make_pair(2.0, 2.0));
  store.Apply(cell(2, /*increment=*/true, {"b", "c"}, 4));  // b again, and c: 3 people
  EXPECT_EQ(figures(), std::make_pair(3.0, 4.0));
  v1::PartialAggregate broken = cell(4, /*increment=*/true, {"d"}, 5);
  broken.mutable_cell()->mutable_participants()->add_hashes(7);  // hashes without counts
  store.Apply(broken);
  EXPECT_EQ(store.rejected_records(), 1u);
  EXPECT_EQ(figures(), std::make_pair(3.0, 4.0));
  // An increment for a cell not held starts from an empty one.
  v1::PartialAggregate other = cell(5, /*increment=*/true, {"e"}, 1);
  other.mutable_cell()->set_start_unix_seconds((hour - kHourMs) / 1000);
  store.Apply(other);
  EXPECT_EQ(figures(), std::make_pair(4.0, 5.0));
}

// A cell beyond the window's end (where an on-time stream's events land: after the
// watermark) changes no window: Compute merges nothing again until the watermark takes it in.
TEST(IncrementalComputeTest, ACellBeyondTheWindowsEndWaitsForTheWatermark) {
  IndicatorStore store(IndicatorOptions{});
  const int64_t w = kT0 + 10 * kDayMs;
  auto minute_cell = [](int64_t start, int64_t offset, const std::vector<std::string>& people) {
    v1::PartialAggregate record = HourCell(start, offset, people);
    record.mutable_cell()->set_width_seconds(60);
    return record;
  };
  auto progress = Progress;
  auto hour = [&store] {  // the city's distinct participants over 1 hour
    for (const SeriesIndicators& s : store.Compute().series) {
      if (s.city && !s.kind.has_value()) return s.active_participants[0];
    }
    return -1.0;
  };
  store.Apply(minute_cell(w - 30 * kMinuteMs, 1, {"a"}));
  store.Apply(progress(w, 2));
  EXPECT_EQ(hour(), 1);
  const uint64_t merged = store.windows_recomputed();
  EXPECT_GT(merged, 0u);
  store.Apply(minute_cell(w + 2 * kMinuteMs, 3, {"b", "c"}));  // after the watermark
  EXPECT_EQ(hour(), 1);
  EXPECT_EQ(store.windows_recomputed(), merged);
  store.Apply(minute_cell(w - 10 * kMinuteMs, 4, {"d"}));  // inside the window: merged again
  EXPECT_EQ(hour(), 2);
  const uint64_t after_late = store.windows_recomputed();
  EXPECT_GT(after_late, merged);
  store.Apply(progress(w + 5 * kMinuteMs, 5));  // the watermark passes the waiting cell
  EXPECT_EQ(hour(), 4);
  EXPECT_GT(store.windows_recomputed(), after_late);
}

}  // namespace
}  // namespace civicpulse::core
