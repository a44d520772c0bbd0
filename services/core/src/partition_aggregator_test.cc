#include "civicpulse/core/partition_aggregator.h"

#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "civicpulse/core/participant_sketch.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "civicpulse/v1/checkpoint.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

// A day-aligned event time in 2023; wall clock starts at the same instant.
constexpr int64_t kT0 = 1'700'000'000'000 / kDayMs * kDayMs;

Event MakeEvent(std::string id, int64_t t, std::string participant = "p-1",
                std::string area = "W01", Kind kind = Kind::kWatchReport) {
  Event e;
  e.event_id = std::move(id);
  e.SetKind(kind);
  e.participant = std::move(participant);
  e.has_participant = !e.participant.empty();
  e.area = std::move(area);
  e.occurred_at_ms = t;
  if (kind == Kind::kVolunteerShift) e.hours = 2;
  if (kind == Kind::kRecycling) e.weight_kg = 1.5;
  return e;
}

double Distinct(const v1::ParticipantSketch& proto) {
  ParticipantSketch sketch;
  EXPECT_TRUE(sketch.FromProto(proto).ok());
  return sketch.Estimate();
}

// A cell's new participants, as a reader takes them: `participants` when the writer marked
// them the same (new_are_participants) and left the copy out.
const v1::ParticipantSketch& NewParticipants(const v1::Cell& cell) {
  return cell.new_are_participants() ? cell.participants() : cell.new_participants();
}

class PartitionAggregatorTest : public ::testing::Test {
 protected:
  PartitionAggregatorTest() : areas_(AreaCapOptions{}), agg_(options_, &areas_) {}

  Outcome Apply(const Event& e, int64_t now = kT0) { return agg_.Apply(e, now); }

  std::vector<v1::Cell> Take(bool all = false) {
    std::vector<v1::Cell> cells;
    agg_.TakeCells(&cells, all);
    return cells;
  }

  // The cell of the given width and start among `cells`; fails the test when missing.
  static const v1::Cell& Find(const std::vector<v1::Cell>& cells, int32_t width_seconds,
                              int64_t start_ms, const std::string& area = "W01") {
    for (const v1::Cell& c : cells) {
      if (c.width_seconds() == width_seconds && c.start_unix_seconds() * 1000 == start_ms &&
          c.area() == area) {
        return c;
      }
    }
    ADD_FAILURE() << "no cell " << area << "/" << width_seconds << "s/" << start_ms;
    static const v1::Cell kEmpty;
    return kEmpty;
  }

  v1::PartitionProgress Progress() const {
    v1::PartitionProgress p;
    agg_.FillProgress(&p);
    return p;
  }

  EngineOptions options_;
  AreaCap areas_;
  PartitionAggregator agg_;
};

// Prepare only reads: an engine that applies every event with what it prepared several
// events before (as the router does: early, before areas are first seen, and across the
// eviction of the cells it prefetched) ends in exactly the same state as one that does not.
TEST_F(PartitionAggregatorTest, ApplyingPreparedEventsChangesNothing) {
  PartitionAggregator twin(options_, &areas_);
  std::vector<Event> events;
  for (int i = 0; i < 300; ++i) {              // five hours: minute cells are evicted on the way
    const int area = i < 100 ? i % 3 : i % 5;  // two areas first seen after an hour and more
    events.push_back(MakeEvent("e" + std::to_string(i % 250), kT0 + i * kMinuteMs,
                               i % 4 == 0 ? "" : "p-" + std::to_string(i % 7),
                               "W0" + std::to_string(area)));
  }
  constexpr size_t kAhead = 5;
  std::vector<PartitionAggregator::Prepared> prepared(events.size());
  for (size_t i = 0; i < std::min(kAhead, events.size()); ++i) {
    prepared[i] = twin.Prepare(events[i]);
  }
  int unknown_areas = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (prepared[i].area_id == PartitionAggregator::Prepared::kNoArea) ++unknown_areas;
    EXPECT_EQ(twin.Apply(events[i], prepared[i], kT0), Apply(events[i])) << i;
    if (i + kAhead < events.size()) prepared[i + kAhead] = twin.Prepare(events[i + kAhead]);
  }
  // Each area's first events were prepared before it was known (a kAhead window each).
  EXPECT_GE(unknown_areas, 5);
  EXPECT_LE(unknown_areas, 5 * static_cast<int>(kAhead));
  v1::PartitionProgress progress;
  twin.FillProgress(&progress);
  EXPECT_EQ(progress.SerializeAsString(), Progress().SerializeAsString());
  std::vector<v1::Cell> cells;
  twin.TakeCells(&cells, /*all=*/true);
  std::vector<v1::Cell> own = Take(/*all=*/true);
  ASSERT_EQ(cells.size(), own.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    EXPECT_EQ(cells[i].SerializeAsString(), own[i].SerializeAsString()) << i;
  }
}

// A replay moves hours of event time between two Ticks (one per flush): Apply itself evicts
// the cells no window reads once an hour of watermark, with the same results as an engine
// ticked after every event.
TEST_F(PartitionAggregatorTest, ApplyEvictsCellsNoWindowReadsWithoutWaitingForTick) {
  PartitionAggregator ticked(options_, &areas_);
  for (int i = 0; i < 600; ++i) {  // ten hours, an event a minute, never a Tick
    const Event e =
        MakeEvent("e" + std::to_string(i), kT0 + i * kMinuteMs, "p-" + std::to_string(i % 13));
    ASSERT_EQ(Apply(e), Outcome::kApplied);
    ASSERT_EQ(ticked.Apply(e, kT0), Outcome::kApplied);
    ticked.Tick(kT0);
  }
  // 600 one-minute cells, 40 of 15 minutes and 10 of an hour without eviction; the 1-minute
  // cells of the last two hours (window and grace) and at most one more hour with it.
  EXPECT_LT(agg_.cell_count(), 250u);
  agg_.Tick(kT0);
  EXPECT_EQ(agg_.cell_count(), ticked.cell_count());
  std::vector<v1::Cell> cells, own = Take(/*all=*/true);
  ticked.TakeCells(&cells, /*all=*/true);
  ASSERT_EQ(cells.size(), own.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    EXPECT_EQ(cells[i].SerializeAsString(), own[i].SerializeAsString()) << i;
  }
  std::vector<v1::HourlyHistory> history, own_history;
  ticked.TakeHistory(&history, /*all=*/true);
  agg_.TakeHistory(&own_history, /*all=*/true);
  ASSERT_EQ(history.size(), own_history.size());
  ASSERT_FALSE(history.empty());
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].SerializeAsString(), own_history[i].SerializeAsString()) << i;
  }
}

TEST_F(PartitionAggregatorTest, WatermarkIsMaxEventTimeMinusLateness) {
  EXPECT_EQ(agg_.watermark_ms(), 0);
  EXPECT_EQ(Apply(MakeEvent("a", kT0)), Outcome::kApplied);
  EXPECT_EQ(agg_.watermark_ms(), kT0 - options_.allowed_lateness_ms);
  // An older event does not move it back.
  EXPECT_EQ(Apply(MakeEvent("b", kT0 - 10 * kMinuteMs)), Outcome::kApplied);
  EXPECT_EQ(agg_.watermark_ms(), kT0 - options_.allowed_lateness_ms);
  EXPECT_EQ(Apply(MakeEvent("c", kT0 + kHourMs)), Outcome::kApplied);
  EXPECT_EQ(agg_.watermark_ms(), kT0 + kHourMs - options_.allowed_lateness_ms);
  EXPECT_EQ(agg_.max_event_ms(), kT0 + kHourMs);
  EXPECT_EQ(Progress().watermark_unix_ms(), agg_.watermark_ms());
}

TEST_F(PartitionAggregatorTest, HistoryIsNeverLateBeforeTheFirstRecord) {
  // Events a year old, produced after start-up: the first one sets the watermark.
  const int64_t old = kT0 - 365 * kDayMs;
  agg_.Tick(kT0 + 10 * kMinuteMs);  // idle, but no record yet: no watermark
  EXPECT_EQ(agg_.watermark_ms(), 0);
  EXPECT_EQ(Apply(MakeEvent("a", old)), Outcome::kApplied);
  EXPECT_EQ(agg_.watermark_ms(), old - options_.allowed_lateness_ms);
}

TEST_F(PartitionAggregatorTest, GraceBoundaryIsInclusive) {
  Apply(MakeEvent("a", kT0));
  const int64_t boundary = agg_.watermark_ms() - options_.grace_ms;
  EXPECT_EQ(Apply(MakeEvent("on-boundary", boundary)), Outcome::kApplied);
  EXPECT_EQ(Apply(MakeEvent("just-late", boundary - 1)), Outcome::kLate);
  const v1::PartitionProgress p = Progress();
  EXPECT_EQ(p.applied(), 2u);
  EXPECT_EQ(p.late(), 1u);
  ASSERT_EQ(p.totals_size(), 1);
  EXPECT_EQ(p.totals(0).events(), 2u);
}

TEST_F(PartitionAggregatorTest, LateEventDoesNotPoisonDeduplication) {
  Apply(MakeEvent("a", kT0));
  const int64_t late = agg_.watermark_ms() - options_.grace_ms - kMinuteMs;
  EXPECT_EQ(Apply(MakeEvent("x", late)), Outcome::kLate);
  // The same id again, now on time: it was never applied, so it is not a duplicate.
  EXPECT_EQ(Apply(MakeEvent("x", kT0 - kMinuteMs)), Outcome::kApplied);
  EXPECT_EQ(Apply(MakeEvent("x", kT0 - kMinuteMs)), Outcome::kDuplicate);
}

TEST_F(PartitionAggregatorTest, DuplicateIdIsAppliedOnceEvenWithAnotherTime) {
  EXPECT_EQ(Apply(MakeEvent("e3", kT0)), Outcome::kApplied);
  EXPECT_EQ(Apply(MakeEvent("e3", kT0 + 5 * kMinuteMs)), Outcome::kDuplicate);
  EXPECT_EQ(Apply(MakeEvent("e3", kT0 - 5 * kMinuteMs, "p-2")), Outcome::kDuplicate);
  // A duplicate neither counts nor moves the watermark.
  EXPECT_EQ(agg_.watermark_ms(), kT0 - options_.allowed_lateness_ms);
  const v1::PartitionProgress p = Progress();
  EXPECT_EQ(p.applied(), 1u);
  EXPECT_EQ(p.duplicate(), 1u + 1u);
  ASSERT_EQ(p.totals_size(), 1);
  EXPECT_EQ(p.totals(0).events(), 1u);
  const std::vector<v1::Cell> cells = Take();
  EXPECT_EQ(Find(cells, 60, kT0).events(), 1u);
}

TEST_F(PartitionAggregatorTest, IdlePartitionAdvancesByWallClock) {
  const int64_t wall = kT0 + 3 * kHourMs;  // events are replayed 3 h after they happened
  Apply(MakeEvent("a", kT0), wall);
  const int64_t w0 = kT0 - options_.allowed_lateness_ms;
  agg_.Tick(wall + options_.idle_timeout_ms);  // exactly the timeout: not idle yet
  EXPECT_EQ(agg_.watermark_ms(), w0);
  agg_.Tick(wall + options_.idle_timeout_ms + 1);
  EXPECT_EQ(agg_.watermark_ms(), wall + options_.idle_timeout_ms + 1 -
                                     options_.allowed_lateness_ms);
  // Now the replayed history is late.
  EXPECT_EQ(Apply(MakeEvent("b", kT0 + kMinuteMs), wall + 2 * kMinuteMs), Outcome::kLate);
  // A wall clock behind event time never moves the watermark back.
  const int64_t w1 = agg_.watermark_ms();
  agg_.Tick(kT0);
  EXPECT_EQ(agg_.watermark_ms(), w1);
}

TEST_F(PartitionAggregatorTest, LateRecordsAlsoKeepThePartitionBusy) {
  Apply(MakeEvent("a", kT0), kT0);
  Apply(MakeEvent("old", kT0 - 3 * kHourMs), kT0 + 50 * 1000);  // late, but a record
  agg_.Tick(kT0 + 100 * 1000);  // 50 s after the last record: not idle
  EXPECT_EQ(agg_.watermark_ms(), kT0 - options_.allowed_lateness_ms);
}

TEST_F(PartitionAggregatorTest, EventUpdatesOneCellOfEachResolution) {
  const int64_t t = kT0 + 2 * kHourMs + 17 * kMinuteMs + 30 * 1000;
  Event e = MakeEvent("s1", t, "p-7", "W01", Kind::kVolunteerShift);
  e.hours = 3.5;
  e.age_band = AgeBand::k65To74;
  e.public_body = false;
  Apply(e);
  Event r = MakeEvent("r1", t, "p-8", "W01", Kind::kRecycling);
  r.weight_kg = 4.2;
  r.age_band = AgeBand::kUnknown;
  Apply(r);
  const std::vector<v1::Cell> cells = Take();
  ASSERT_EQ(cells.size(), 6u);
  for (const auto& [width, start] :
       std::vector<std::pair<int32_t, int64_t>>{{60, kT0 + 2 * kHourMs + 17 * kMinuteMs},
                                                {900, kT0 + 2 * kHourMs + 15 * kMinuteMs},
                                                {3600, kT0 + 2 * kHourMs}}) {
    int seen = 0;
    for (const v1::Cell& c : cells) {
      if (c.width_seconds() != width) continue;
      ++seen;
      EXPECT_EQ(c.start_unix_seconds() * 1000, start);
      EXPECT_EQ(c.events(), 1u);
      EXPECT_EQ(c.attributed_events(), 1u);
      EXPECT_EQ(Distinct(c.participants()), 1);
      EXPECT_EQ(Distinct(NewParticipants(c)), 1);
      if (c.kind() == v1::KIND_VOLUNTEER_SHIFT) {
        EXPECT_DOUBLE_EQ(c.volunteer_seconds(), 3.5 * 3600);
        EXPECT_DOUBLE_EQ(c.recycled_grams(), 0);
        EXPECT_EQ(c.collective_events(), 1u);
        EXPECT_EQ(c.public_body_events(), 0u);
        ASSERT_EQ(c.participants_by_age().count("65-74"), 1u);
      } else {
        EXPECT_EQ(c.kind(), v1::KIND_RECYCLING);
        EXPECT_DOUBLE_EQ(c.recycled_grams(), 4200);
        EXPECT_EQ(c.collective_events(), 0u);  // recycling defaults to individual
        EXPECT_EQ(c.public_body_events(), 1u);
        ASSERT_EQ(c.participants_by_age().count("unknown"), 1u);
      }
      EXPECT_EQ(c.participants_by_age_size(), 1);
    }
    EXPECT_EQ(seen, 2) << width;
  }
}

TEST_F(PartitionAggregatorTest, TakeCellsReturnsOnlyChangedCellsUnlessAll) {
  Apply(MakeEvent("a", kT0));
  Apply(MakeEvent("b", kT0 + 20 * kMinuteMs));
  EXPECT_EQ(Take().size(), 3u + 2u);  // the 1 h cell is shared
  EXPECT_TRUE(Take().empty());
  Apply(MakeEvent("c", kT0 + 20 * kMinuteMs + 1));
  const std::vector<v1::Cell> changed = Take();
  ASSERT_EQ(changed.size(), 3u);
  EXPECT_EQ(Find(changed, 60, kT0 + 20 * kMinuteMs).events(), 2u);
  EXPECT_EQ(Find(changed, 3600, kT0).events(), 3u);  // full snapshot, never a delta
  EXPECT_EQ(Take(/*all=*/true).size(), 5u);
  EXPECT_TRUE(Take().empty());
}

// The changed-cell lists keep cell starts in 32 bits of minutes: the oldest time the decoder
// accepts (year 0000) and a time centuries ahead (2888) both come back exactly, in the aggregates
// and in the changelog's delta.
TEST(PartitionAggregatorExtremeTimesTest, CellsAtTheEdgesOfAcceptedTimesArePublishedAndLogged) {
  constexpr int64_t kYear0000 = -62'167'219'200'000;  // 0000-01-01T00:00:00Z
  constexpr int64_t kYear2888 = 29'000'000'000'000;   // a receiving clock's far future
  for (const int64_t t : {kYear0000 + 59 * kMinuteMs + 1, kYear2888 + 30 * 1000}) {
    EngineOptions options;
    AreaCap areas{AreaCapOptions{}};
    PartitionAggregator agg(options, &areas);
    agg.EnableCheckpoints();
    ASSERT_EQ(agg.Apply(MakeEvent("a", t), kT0), Outcome::kApplied);
    std::vector<v1::Cell> cells;
    agg.TakeCells(&cells, /*all=*/false);
    std::vector<v1::StatePiece> pieces;
    agg.TakeDelta(/*max_piece_bytes=*/1 << 20, &pieces);
    std::vector<int64_t> logged;
    for (const v1::StatePiece& piece : pieces) {
      for (const v1::Cell& c : piece.cells()) logged.push_back(c.start_unix_seconds() * 1000);
    }
    std::vector<int64_t> published;
    for (const v1::Cell& c : cells) published.push_back(c.start_unix_seconds() * 1000);
    std::vector<int64_t> want;
    for (const WindowSpec& w : kWindows)
      want.push_back(t - (t % w.cell_ms + w.cell_ms) % w.cell_ms);
    EXPECT_THAT(published, ::testing::UnorderedElementsAreArray(want)) << t;
    EXPECT_THAT(logged, ::testing::UnorderedElementsAreArray(want)) << t;
  }
}

TEST_F(PartitionAggregatorTest, CellsNoWindowCanReadAreNotPublished) {
  // As in a replay: a's 1-minute cell closes before the next flush.
  Apply(MakeEvent("a", kT0));
  Apply(MakeEvent("b", kT0 + 2 * kHourMs));  // W = kT0 + 1h55m: 1h window from kT0 + 55m
  const std::vector<v1::Cell> cells = Take();
  EXPECT_EQ(cells.size(), 2u + 3u);
  for (const v1::Cell& c : cells) {
    EXPECT_FALSE(c.width_seconds() == 60 && c.start_unix_seconds() == kT0 / 1000);
  }
  EXPECT_EQ(Find(cells, 900, kT0).events(), 1u);
  EXPECT_EQ(Find(cells, 3600, kT0).events(), 1u);
  EXPECT_EQ(Take(/*all=*/true).size(), 5u);
}

TEST_F(PartitionAggregatorTest, AnonymousEventsCountButAreNotParticipants) {
  Apply(MakeEvent("anon", kT0, ""));
  Apply(MakeEvent("named", kT0, "p-1"));
  const std::vector<v1::Cell> cells = Take();
  const v1::Cell& c = Find(cells, 60, kT0);
  EXPECT_EQ(c.events(), 2u);
  EXPECT_EQ(c.attributed_events(), 1u);
  EXPECT_EQ(Distinct(c.participants()), 1);
  EXPECT_EQ(Distinct(NewParticipants(c)), 1);
}

TEST_F(PartitionAggregatorTest, NewParticipantsUseA90DayHorizonPerArea) {
  const int64_t day = kDayMs;
  Apply(MakeEvent("a", kT0, "p-1"));
  Take();
  // The same person in another area is new there.
  Apply(MakeEvent("b", kT0 + kMinuteMs, "p-1", "W02"));
  EXPECT_EQ(Distinct(NewParticipants(Find(Take(), 60, kT0 + kMinuteMs, "W02"))), 1);
  // Seen 89 days ago in W01: not new.
  Apply(MakeEvent("c", kT0 + 89 * day, "p-1"));
  agg_.Tick(kT0 + 89 * day);
  EXPECT_EQ(Distinct(NewParticipants(Find(Take(), 60, kT0 + 89 * day))), 0);
  // Last seen 89 days before; 90 days exactly after that is still "seen within 90 days".
  Apply(MakeEvent("d", kT0 + 179 * day, "p-1"));
  EXPECT_EQ(Distinct(NewParticipants(Find(Take(), 60, kT0 + 179 * day))), 0);
  // 90 days and 1 ms after the last sighting: new again, even though the entry may have
  // been swept meanwhile.
  agg_.Tick(kT0 + 269 * day);
  Apply(MakeEvent("e", kT0 + 269 * day + 1, "p-1"));
  EXPECT_EQ(Distinct(NewParticipants(Find(Take(), 60, kT0 + 269 * day))), 1);
}

// A large cell's increment whose events were all first sightings says so
// (new_are_participants) instead of repeating its participants; one with a returning
// participant writes the new ones.
TEST_F(PartitionAggregatorTest, IncrementOfFirstSightingsLeavesTheCopyOut) {
  agg_.EnableIncrementalPublishing();
  for (int i = 0; i < 45; ++i) {
    Apply(MakeEvent("a" + std::to_string(i), kT0, "p-" + std::to_string(i)));
    if (i == 39) Take();  // the whole cell; the next five travel as an increment
  }
  const std::vector<v1::Cell> first = Take();
  const v1::Cell& fresh = Find(first, 60, kT0);
  ASSERT_TRUE(fresh.increment());
  EXPECT_EQ(Distinct(fresh.participants()), 5);
  EXPECT_TRUE(fresh.new_are_participants());
  EXPECT_FALSE(fresh.has_new_participants());
  Apply(MakeEvent("b1", kT0, "p-1"));   // seen in this cell already
  Apply(MakeEvent("b2", kT0, "p-50"));  // new
  const std::vector<v1::Cell> second = Take();
  const v1::Cell& mixed = Find(second, 60, kT0);
  ASSERT_TRUE(mixed.increment());
  EXPECT_EQ(Distinct(mixed.participants()), 2);
  EXPECT_FALSE(mixed.new_are_participants());
  EXPECT_EQ(Distinct(mixed.new_participants()), 1);
}

TEST_F(PartitionAggregatorTest, OutOfOrderSightingIsNotNewAgain) {
  Apply(MakeEvent("a", kT0, "p-1"));
  Apply(MakeEvent("b", kT0 - 2 * kMinuteMs, "p-1"));  // earlier, arriving later
  const std::vector<v1::Cell> cells = Take();
  EXPECT_EQ(Distinct(NewParticipants(Find(cells, 60, kT0))), 1);
  EXPECT_EQ(Distinct(NewParticipants(Find(cells, 60, kT0 - 2 * kMinuteMs))), 0);
}

TEST_F(PartitionAggregatorTest, EvictsCellsNoWindowCanReach) {
  Apply(MakeEvent("a", kT0));
  EXPECT_EQ(agg_.cell_count(), 3u);
  // 1-minute cells live until W passes their end + 1 h window + 1 h grace.
  const int64_t minute_end = kT0 + kMinuteMs;
  Apply(MakeEvent("b", minute_end + 2 * kHourMs + options_.allowed_lateness_ms));
  agg_.Tick(kT0);
  EXPECT_EQ(agg_.cell_count(), 6u);  // W == end + 2 h: not yet strictly past
  Apply(MakeEvent("c", minute_end + 2 * kHourMs + options_.allowed_lateness_ms + 1));
  agg_.Tick(kT0);
  EXPECT_EQ(agg_.cell_count(), 5u);  // a's 1-minute cell is gone
  // 15-minute cells: 24 h + grace; 1-hour cells: 7 d + grace.
  Apply(MakeEvent("d", kT0 + 26 * kHourMs));
  agg_.Tick(kT0);
  const size_t before_week = agg_.cell_count();
  Apply(MakeEvent("e", kT0 + 7 * kDayMs + 3 * kHourMs));
  agg_.Tick(kT0);
  EXPECT_LT(agg_.cell_count(), before_week + 3);
  // Everything but the newest event's cells is gone after 8 days of event time.
  Apply(MakeEvent("f", kT0 + 30 * kDayMs));
  agg_.Tick(kT0);
  EXPECT_EQ(agg_.cell_count(), 3u);
  // Totals are kept: counters never lose what was applied.
  ASSERT_EQ(Progress().totals_size(), 1);
  EXPECT_EQ(Progress().totals(0).events(), 6u);
  EXPECT_EQ(Progress().totals(0).last_event_unix_ms(), kT0 + 30 * kDayMs);
}

// Eviction keeps exactly the cells a window can still reach: checked against the cells every
// applied event made, less those ending before W - window - grace, through steady progress,
// jumps of days and of months, events back within the grace, a series left behind by
// another, and a restore from a snapshot.
TEST_F(PartitionAggregatorTest, EvictionKeepsExactlyTheCellsAWindowCanStillReach) {
  PartitionAggregator* live = &agg_;
  std::unique_ptr<PartitionAggregator> restored;
  // Cells made by applied events: (area, resolution, start).
  std::set<std::tuple<std::string, int, int64_t>> made;
  auto expected = [&made, this](int64_t watermark) {
    size_t n = 0;
    for (const auto& [area, r, start] : made) {
      const int64_t limit = watermark - kWindows[r].length_ms - options_.grace_ms;
      if (start + kWindows[r].cell_ms >= limit) ++n;
    }
    return n;
  };
  std::mt19937_64 rng(7);
  int64_t t = kT0;
  for (int i = 0; i < 3000; ++i) {
    const uint64_t draw = rng() % 1000;
    if (draw == 0) {
      t += 45 * kDayMs + 7 * kMinuteMs;  // past every window: only the new cells stay
    } else if (draw < 4) {
      t += 3 * kDayMs + 11 * kMinuteMs;
    } else {
      t += static_cast<int64_t>(rng() % (20 * kMinuteMs));
    }
    // Now and then an event up to 70 minutes back: applied within the grace, or late.
    const int64_t at = rng() % 7 == 0 ? t - static_cast<int64_t>(rng() % (70 * kMinuteMs)) : t;
    // W02 stops at the half: its cells are left for the evictions to reach.
    const std::string area = i < 1500 && i % 3 == 0 ? "W02" : "W01";
    if (live->Apply(MakeEvent("e" + std::to_string(i), at, "p-" + std::to_string(i % 50), area),
                    kT0) == Outcome::kApplied) {
      for (int r = 0; r < kWindowCount; ++r) {
        const int64_t width = kWindows[r].cell_ms;
        made.emplace(area, r, at / width * width);
      }
    }
    if (i % 10 == 9) {
      live->Tick(kT0);
      ASSERT_EQ(live->cell_count(), expected(live->watermark_ms())) << "after event " << i;
    }
    if (i == 1700) {  // the rest runs on a restored copy
      std::vector<v1::StatePiece> pieces;
      live->WriteSnapshot(/*max_piece_bytes=*/1 << 20, &pieces);
      restored = std::make_unique<PartitionAggregator>(options_, &areas_);
      for (const v1::StatePiece& piece : pieces) {
        ASSERT_TRUE(restored->ApplyPiece(piece, kT0).ok());
      }
      live = restored.get();
      ASSERT_EQ(live->cell_count(), agg_.cell_count());
    }
  }
  EXPECT_LT(live->cell_count(), 400u);  // evictions did happen
}

TEST_F(PartitionAggregatorTest, TotalsCountCoproductionTypes) {
  Event a = MakeEvent("a", kT0);
  a.coproduction = CoproductionType::kCoDesign;
  Apply(a);
  Apply(MakeEvent("b", kT0 + 1));
  agg_.RecordInvalid();
  const v1::PartitionProgress p = Progress();
  ASSERT_EQ(p.totals_size(), 1);
  EXPECT_THAT(p.totals(0).coproduction_events(), ::testing::ElementsAre(0, 1, 1, 0));
  EXPECT_EQ(p.totals(0).area(), "W01");
  EXPECT_EQ(p.totals(0).kind(), v1::KIND_WATCH_REPORT);
  EXPECT_EQ(p.totals(0).last_event_unix_ms(), kT0 + 1);
  EXPECT_EQ(p.invalid(), 1u);
  EXPECT_EQ(p.max_event_unix_ms(), kT0 + 1);
}

TEST(PartitionAggregatorAreaCapTest, FoldsAreasBeyondTheCapIntoOther) {
  AreaCap areas(AreaCapOptions{.allowed = {}, .max_areas = 2});
  EngineOptions options;
  PartitionAggregator agg(options, &areas);
  for (int i = 0; i < 5; ++i) {
    agg.Apply(MakeEvent("e" + std::to_string(i), kT0, "p-" + std::to_string(i),
                        "A" + std::to_string(i)),
              kT0);
  }
  v1::PartitionProgress p;
  agg.FillProgress(&p);
  std::vector<std::pair<std::string, uint64_t>> totals;
  for (const v1::AreaKindTotals& t : p.totals()) totals.emplace_back(t.area(), t.events());
  EXPECT_THAT(totals, ::testing::UnorderedElementsAre(std::pair<std::string, uint64_t>{"A0", 1},
                                                      std::pair<std::string, uint64_t>{"A1", 1},
                                                      std::pair<std::string, uint64_t>{"other", 3}));
  EXPECT_EQ(agg.series_count(), 3u);
  std::vector<v1::Cell> cells;
  agg.TakeCells(&cells);
  for (const v1::Cell& c : cells) {
    if (c.area() == "other") {
      EXPECT_EQ(c.events(), 3u);
      EXPECT_EQ(Distinct(c.participants()), 3);
    }
  }
}

TEST(PartitionAggregatorAreaCapTest, AllowListKeepsOnlyListedAreas) {
  AreaCap areas(AreaCapOptions{.allowed = {"W01", "W02"}, .max_areas = 500});
  EngineOptions options;
  PartitionAggregator agg(options, &areas);
  agg.Apply(MakeEvent("a", kT0, "p-1", "W02"), kT0);
  agg.Apply(MakeEvent("b", kT0, "p-1", "Z99"), kT0);
  v1::PartitionProgress p;
  agg.FillProgress(&p);
  std::vector<std::string> names;
  for (const v1::AreaKindTotals& t : p.totals()) names.push_back(t.area());
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("W02", "other"));
}

// Issue 10, item 9: dedup evictions are part of the outcome counts (exported by the
// aggregator as civicpulse_aggregator_dedup_evicted_ids_total) and follow the partition.
TEST(PartitionAggregatorDedupTest, EvictionsAreCountedAndCheckpointed) {
  EngineOptions options;
  options.dedup_max_entries = 100;
  AreaCap areas(AreaCapOptions{});
  PartitionAggregator agg(options, &areas);
  agg.EnableCheckpoints();
  EXPECT_EQ(agg.outcome_counts().dedup_evicted, 0u);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(agg.Apply(MakeEvent("id-" + std::to_string(i), kT0 + i), kT0), Outcome::kApplied);
  }
  const uint64_t evicted = agg.outcome_counts().dedup_evicted;
  EXPECT_GE(evicted, 1000u - 101u);
  EXPECT_LT(evicted, 1000u);

  std::vector<v1::StatePiece> pieces;
  agg.WriteSnapshot(/*max_piece_bytes=*/1 << 20, &pieces);
  AreaCap areas_b(AreaCapOptions{});
  PartitionAggregator restored(options, &areas_b);
  for (const v1::StatePiece& piece : pieces) ASSERT_TRUE(restored.ApplyPiece(piece, kT0).ok());
  EXPECT_EQ(restored.outcome_counts().dedup_evicted, evicted);
}

// The participant memory forgets whoever was last seen before W - grace - horizon (within
// the hour Tick sweeps it by), also after a restore: the sweep is skipped while nobody held
// is that old, and restored sightings count as held.
TEST(PartitionAggregatorSweepTest, ParticipantsPastTheHorizonAreForgottenAlsoAfterARestore) {
  EngineOptions options;
  options.new_participant_horizon_ms = kDayMs;
  // Sightings in a snapshot, all of them later than the horizon allows (with the sweep's
  // hour of lag).
  auto check_sightings = [&options](PartitionAggregator& agg, size_t at_least) {
    std::vector<v1::StatePiece> pieces;
    agg.WriteSnapshot(/*max_piece_bytes=*/1 << 20, &pieces);
    const int64_t limit =
        agg.watermark_ms() - options.grace_ms - options.new_participant_horizon_ms - kHourMs;
    size_t held = 0;
    for (const v1::StatePiece& piece : pieces) {
      for (int64_t t : piece.participant_times_ms()) {
        EXPECT_GE(t, limit);
        ++held;
      }
    }
    EXPECT_GE(held, at_least);
    return pieces;
  };
  // 50 new people an hour, Tick after each hour (the wall clock follows event time).
  auto hours = [](PartitionAggregator& agg, int from, int to) {
    for (int h = from; h < to; ++h) {
      for (int i = 0; i < 50; ++i) {
        const int64_t t = kT0 + h * kHourMs + i * kMinuteMs;
        const std::string who = std::to_string(h) + "-" + std::to_string(i);
        ASSERT_EQ(agg.Apply(MakeEvent("e-" + who, t, "p-" + who), t), Outcome::kApplied);
      }
      agg.Tick(kT0 + (h + 1) * kHourMs);
    }
  };
  AreaCap areas(AreaCapOptions{});
  PartitionAggregator agg(options, &areas);
  agg.EnableCheckpoints();
  hours(agg, 0, 72);
  const std::vector<v1::StatePiece> pieces = check_sightings(agg, 25 * 50);

  AreaCap areas_b(AreaCapOptions{});
  PartitionAggregator restored(options, &areas_b);
  restored.EnableCheckpoints();
  for (const v1::StatePiece& piece : pieces) {
    ASSERT_TRUE(restored.ApplyPiece(piece, kT0 + 72 * kHourMs).ok());
  }
  // Everyone new after the restore is later than everyone restored; the restored sightings
  // still go once they are past the horizon.
  hours(restored, 72, 90);
  check_sightings(restored, 25 * 50);
}

}  // namespace
}  // namespace civicpulse::core
