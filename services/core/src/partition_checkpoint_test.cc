// Checkpoints of PartitionAggregator: restoring a snapshot and the deltas after it, at any
// point of a stream, gives an aggregator that goes on exactly like the original.
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "civicpulse/core/partition_aggregator.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "civicpulse/v1/checkpoint.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000 / kDayMs * kDayMs;

// The stream a test replays: how many events, how far apart, over how many people, areas
// and kinds.
struct StreamShape {
  int events = 6000;
  int64_t max_step_ms = 60 * 1000;
  int participants = 400;
  int areas = 7;
  int kinds = kKindCount;
  bool two_bands = false;  // else one age band, on a third of the events
};

Event RandomEvent(std::mt19937_64& rng, int i, int64_t t, const StreamShape& shape) {
  Event e;
  e.event_id = "e-" + std::to_string(rng() % 2 == 0 ? i : i / 2);  // some duplicates
  e.SetKind(static_cast<Kind>(1 + rng() % shape.kinds));
  e.participant = "p-" + std::to_string(rng() % shape.participants);
  e.has_participant = rng() % 10 != 0;
  if (!e.has_participant) e.participant.clear();
  e.area = "W" + std::to_string(rng() % shape.areas);
  e.occurred_at_ms = t;
  if (e.kind == Kind::kVolunteerShift) e.hours = 1 + static_cast<double>(rng() % 4);
  if (e.kind == Kind::kRecycling) e.weight_kg = 0.5 * static_cast<double>(1 + rng() % 9);
  e.mode = rng() % 3 == 0 ? Mode::kIndividual : Mode::kCollective;
  e.public_body = rng() % 4 != 0;
  if (shape.two_bands) {
    const AgeBand bands[] = {AgeBand::kNone, AgeBand::kNone, AgeBand::k25To34, AgeBand::k65To74};
    e.age_band = bands[rng() % 4];
  } else {
    e.age_band = rng() % 3 == 0 ? AgeBand::k25To34 : AgeBand::kNone;
  }
  return e;
}

// A cell's bytes with its age-band map in key order (a map's wire order is unspecified).
std::string Deterministic(const v1::Cell& cell) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  cell.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// Everything observable of an aggregator: every live cell and the progress record.
std::string Observe(PartitionAggregator* agg) {
  std::vector<v1::Cell> cells;
  agg->TakeCells(&cells, /*all=*/true);
  std::string out;
  for (const v1::Cell& c : cells) out += Deterministic(c);
  v1::PartitionProgress progress;
  agg->FillProgress(&progress);
  // Totals come in series order, which depends on arrival order: compare as a set.
  std::vector<std::string> totals;
  for (const v1::AreaKindTotals& t : progress.totals()) totals.push_back(t.SerializeAsString());
  std::sort(totals.begin(), totals.end());
  progress.clear_totals();
  out += progress.SerializeAsString();
  for (const std::string& t : totals) out += t;
  // The seasonal history, also in series order.
  std::vector<v1::HourlyHistory> history;
  agg->TakeHistory(&history, /*all=*/true);
  std::vector<std::string> hours;
  for (const v1::HourlyHistory& h : history) hours.push_back(h.SerializeAsString());
  std::sort(hours.begin(), hours.end());
  EXPECT_FALSE(hours.empty());  // two days of events seal hours
  for (const std::string& h : hours) out += h;
  return out;
}

// What a changelog carried: cells whole and as increments, and cells in the dense form.
struct LogCounts {
  int whole_cells = 0;
  int increments = 0;
  int dense_cells = 0;
};

// Restores from the last snapshot and the deltas after it at a random point of a stream, and
// expects the restored aggregator to equal the original, then and after the rest of it.
LogCounts ExpectRestoreContinuesExactly(int seed, const StreamShape& shape) {
  std::mt19937_64 rng(seed);
  LogCounts counts;
  EngineOptions options;
  AreaCap areas_a(AreaCapOptions{});
  PartitionAggregator original(options, &areas_a);
  original.EnableCheckpoints();

  // The changelog: a snapshot now and then, deltas in between.
  std::vector<v1::StatePiece> log;
  std::vector<bool> starts_snapshot;
  int split_deltas = 0;
  auto checkpoint = [&](bool snapshot) {
    if (snapshot) {
      std::vector<v1::StatePiece> pieces;
      original.WriteSnapshot(/*max_piece_bytes=*/4096, &pieces);
      for (size_t i = 0; i < pieces.size(); ++i) {
        log.push_back(std::move(pieces[i]));
        starts_snapshot.push_back(i == 0);
      }
    } else {
      // Small pieces, so that deltas are split too (as a catch-up's are).
      std::vector<v1::StatePiece> pieces;
      original.TakeDelta(/*max_piece_bytes=*/4096, &pieces);
      if (pieces.size() > 1) ++split_deltas;
      for (v1::StatePiece& piece : pieces) {
        log.push_back(std::move(piece));
        starts_snapshot.push_back(false);
      }
    }
  };

  // Events mostly in order, some out of order and late.
  std::vector<Event> events;
  int64_t t = kT0;
  for (int i = 0; i < shape.events; ++i) {
    t += static_cast<int64_t>(rng() % shape.max_step_ms);
    const int64_t jitter = rng() % 20 == 0 ? static_cast<int64_t>(rng() % (3 * kHourMs)) : 0;
    events.push_back(RandomEvent(rng, i, t - jitter, shape));
  }
  const size_t cut = shape.events / 3 + rng() % (shape.events / 2);
  int64_t now = kT0;
  for (size_t i = 0; i < cut; ++i) {
    now += 1000;
    original.Apply(events[i], now);
    if (i % 97 == 0) {
      original.Tick(now);
      checkpoint(/*snapshot=*/i % (97 * 7) == 0);
    }
  }
  original.Tick(now);
  checkpoint(/*snapshot=*/false);
  EXPECT_GT(split_deltas, 0) << "no delta was large enough to be split";

  // Restore from the last snapshot and the deltas after it, in another "process".
  size_t begin = log.size();
  while (begin > 0 && !starts_snapshot[begin - 1]) --begin;
  EXPECT_GT(begin, 0u);
  if (begin == 0) return counts;
  --begin;
  for (const v1::StatePiece& piece : log) {
    for (const v1::Cell& cell : piece.cells()) {
      ++(cell.increment() ? counts.increments : counts.whole_cells);
      counts.dense_cells += cell.participants().registers().empty() ? 0 : 1;
    }
  }
  AreaCap areas_b(AreaCapOptions{});
  PartitionAggregator restored(options, &areas_b);
  restored.EnableCheckpoints();
  for (size_t i = begin; i < log.size(); ++i) {
    const absl::Status applied = restored.ApplyPiece(log[i], now);
    EXPECT_TRUE(applied.ok()) << applied;
    if (!applied.ok()) return counts;
  }
  restored.Tick(now);
  EXPECT_EQ(Observe(&original), Observe(&restored));

  // Both go on with the rest of the stream and stay identical.
  for (size_t i = cut; i < events.size(); ++i) {
    now += 1000;
    EXPECT_EQ(original.Apply(events[i], now), restored.Apply(events[i], now)) << i;
    if (i % 101 == 0) {
      original.Tick(now);
      restored.Tick(now);
    }
  }
  original.Tick(now);
  restored.Tick(now);
  EXPECT_EQ(Observe(&original), Observe(&restored));
  return counts;
}

class PartitionCheckpointTest : public ::testing::TestWithParam<int> {};

// Three days of events over 7 areas and every kind: small cells, carried whole.
TEST_P(PartitionCheckpointTest, RestoredAggregatorContinuesExactlyLikeTheOriginal) {
  ExpectRestoreContinuesExactly(GetParam(), StreamShape{});
}

// Eight hours of one series at about one event a second from 5,000 people: its hour cells
// hold thousands (dense form) and travel in deltas as increments, which the restore merges.
TEST_P(PartitionCheckpointTest, LargeCellsTravelAsIncrementsAndRestoreExactly) {
  const LogCounts counts =
      ExpectRestoreContinuesExactly(GetParam(), StreamShape{.events = 40000,
                                                            .max_step_ms = 1000,
                                                            .participants = 20000,
                                                            .areas = 1,
                                                            .kinds = 1,
                                                            .two_bands = true});
  EXPECT_GT(counts.increments, 100);
  EXPECT_GT(counts.dense_cells, 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, PartitionCheckpointTest, ::testing::Range(1, 6));

TEST(PartitionCheckpointTest, MalformedPieceIsAnError) {
  AreaCap areas(AreaCapOptions{});
  PartitionAggregator agg(EngineOptions{}, &areas);
  v1::StatePiece piece;
  piece.add_event_id_hashes(1);
  EXPECT_FALSE(agg.ApplyPiece(piece, kT0).ok());
  v1::StatePiece bad_cell;
  bad_cell.add_cells()->set_width_seconds(7);
  EXPECT_FALSE(agg.ApplyPiece(bad_cell, kT0).ok());
}

TEST(PartitionCheckpointTest, SnapshotIsSplitIntoPiecesOfBoundedSize) {
  AreaCap areas(AreaCapOptions{});
  PartitionAggregator agg(EngineOptions{}, &areas);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i)
    agg.Apply(RandomEvent(rng, i, kT0 + i * 1000, StreamShape{}), kT0);
  std::vector<v1::StatePiece> pieces;
  agg.WriteSnapshot(64 * 1024, &pieces);
  EXPECT_GT(pieces.size(), 3u);
  for (const v1::StatePiece& p : pieces) EXPECT_LT(p.ByteSizeLong(), 2 * 64 * 1024u);
}

// Every item of a list of pieces, serialized and sorted (pieces split where the items fall).
template <typename Pieces>
std::vector<std::string> Contents(const Pieces& pieces) {
  std::vector<std::string> out;
  for (const v1::StatePiece& p : pieces) {
    out.push_back("scalars " + p.scalars().SerializeAsString());
    for (const auto& c : p.cells()) out.push_back("cell " + c.SerializeAsString());
    for (const auto& t : p.totals()) out.push_back("totals " + t.SerializeAsString());
    for (const auto& h : p.history()) out.push_back("history " + h.SerializeAsString());
    for (int i = 0; i < p.event_id_hashes_size(); ++i) {
      out.push_back(absl::StrCat("id ", p.event_id_hashes(i), " ", p.event_id_times_ms(i)));
    }
    for (int i = 0; i < p.participant_keys_size(); ++i) {
      out.push_back(absl::StrCat("seen ", p.participant_keys(i), " ", p.participant_times_ms(i)));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The arena overloads (the aggregator's publishing path) write what the vector ones write:
// the same cells, deltas and snapshots, allocated on the arena.
TEST(PartitionCheckpointTest, ArenaOverloadsWriteTheSameAsVectorOnes) {
  std::mt19937_64 rng(7);
  EngineOptions options;
  AreaCap areas_a(AreaCapOptions{}), areas_b(AreaCapOptions{});
  PartitionAggregator a(options, &areas_a), b(options, &areas_b);
  a.EnableCheckpoints();
  b.EnableCheckpoints();
  google::protobuf::Arena arena;
  auto serialize = [](const auto& messages) {
    std::string out;
    for (const auto& m : messages) out += m.SerializeAsString();
    return out;
  };
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 300; ++i) {
      const Event e =
          RandomEvent(rng, round * 300 + i, kT0 + (round * 300 + i) * 60'000, StreamShape{});
      a.Apply(e, kT0);
      b.Apply(e, kT0);
    }
    std::vector<v1::Cell> cells;
    a.TakeCells(&cells, /*all=*/round == 3);
    auto* arena_cells =
        google::protobuf::Arena::Create<google::protobuf::RepeatedPtrField<v1::Cell>>(&arena,
                                                                                      &arena);
    b.TakeCells(arena_cells, /*all=*/round == 3);
    ASSERT_FALSE(cells.empty());
    EXPECT_EQ(serialize(cells), serialize(*arena_cells)) << "round " << round;
    for (const v1::Cell& c : *arena_cells) EXPECT_EQ(c.GetArena(), &arena);

    std::vector<v1::StatePiece> pieces;
    auto* arena_pieces =
        google::protobuf::Arena::Create<google::protobuf::RepeatedPtrField<v1::StatePiece>>(&arena,
                                                                                            &arena);
    if (round % 2 == 0) {
      a.TakeDelta(/*max_piece_bytes=*/8192, &pieces);
      b.TakeDelta(/*max_piece_bytes=*/8192, arena_pieces);
    } else {
      a.WriteSnapshot(/*max_piece_bytes=*/8192, &pieces);
      b.WriteSnapshot(/*max_piece_bytes=*/8192, arena_pieces);
    }
    ASSERT_GT(pieces.size(), 1u);
    // The same contents; the order of cells within a series may differ (hash maps).
    EXPECT_EQ(Contents(pieces), Contents(*arena_pieces)) << "round " << round;
    for (const v1::StatePiece& p : *arena_pieces) {
      EXPECT_EQ(p.GetArena(), &arena);
      for (const v1::Cell& c : p.cells()) EXPECT_EQ(c.GetArena(), &arena);
    }
  }
}

}  // namespace
}  // namespace civicpulse::core
