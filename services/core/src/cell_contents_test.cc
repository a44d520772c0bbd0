#include "cell_contents.h"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "civicpulse/core/participant_sketch.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

std::string Bytes(const ParticipantSketch& sketch) {
  v1::ParticipantSketch proto;
  sketch.ToProto(&proto);
  return proto.SerializeAsString();
}

// A cell fed the same events as two sketches kept apart: everyone, and the new only.
struct Fed {
  CellContents cell;
  ParticipantSketch all, fresh;

  void Add(uint64_t hash, bool is_new) {
    cell.AddParticipant(hash, is_new);
    all.Add(hash);
    if (is_new) fresh.Add(hash);
  }
  void ExpectSame(const std::string& when) const {
    EXPECT_EQ(Bytes(cell.participants), Bytes(all)) << when;
    EXPECT_EQ(Bytes(cell.new_participants()), Bytes(fresh)) << when;
  }
};

// `people` distinct hashes; the first `all_new` events new, then new with probability 1/2.
Fed Feed(uint64_t seed, int events, int people, int all_new) {
  std::mt19937_64 rng(seed);
  Fed fed;
  for (int i = 0; i < events; ++i) {
    const uint64_t hash = HashParticipant("p-" + std::to_string(rng() % people));
    fed.Add(hash, i < all_new || rng() % 2 == 0);
  }
  return fed;
}

// new_participants() is `participants` itself while every event was new, and a sketch of
// its own from the first event that was not: across each form of the sketches (one person,
// the array, the map, dense).
TEST(CellContentsTest, NewParticipantsFollowEveryEventAcrossTheSwitch) {
  for (const int people : {1, 40, 900, 5000}) {
    for (const int all_new : {0, 1, 30, 2000, 1 << 30}) {
      const Fed fed = Feed(people * 31 + all_new, 3000, people, all_new);
      fed.ExpectSame(std::to_string(people) + " people, " + std::to_string(all_new) + " new");
    }
  }
}

// AddParticipants (a batch, grouped by participant) leaves the cell that one AddParticipant
// per event leaves: whether every event of the batch was new, none or some, and whether the
// cell shared new_participants() before.
TEST(CellContentsTest, AddParticipantsEqualsOneAddParticipantPerEvent) {
  std::mt19937_64 rng(5);
  for (const int people : {1, 3, 40, 900}) {
    for (const int new_percent : {0, 50, 100}) {
      Fed fed;
      CellContents batched;
      for (int round = 0; round < 6; ++round) {
        // One batch: events in random order, each new with the given chance.
        std::map<uint64_t, std::pair<uint32_t, uint32_t>> batch;  // hash -> (events, new)
        for (int i = 0; i < 50; ++i) {
          const uint64_t hash = HashParticipant("p-" + std::to_string(rng() % people));
          const bool is_new = static_cast<int>(rng() % 100) < new_percent;
          fed.Add(hash, is_new);
          ++batch[hash].first;
          batch[hash].second += is_new ? 1 : 0;
        }
        std::vector<uint64_t> hashes;
        std::vector<uint32_t> counts, new_counts;
        for (const auto& [hash, c] : batch) {
          hashes.push_back(hash);
          counts.push_back(c.first);
          new_counts.push_back(c.second);
        }
        batched.AddParticipants(hashes.data(), counts.data(), new_counts.data(), hashes.size());
        const std::string where = std::to_string(people) + " people, " +
                                  std::to_string(new_percent) + "% new, batch " +
                                  std::to_string(round);
        EXPECT_EQ(Bytes(batched.participants), Bytes(fed.cell.participants)) << where;
        EXPECT_EQ(Bytes(batched.new_participants()), Bytes(fed.cell.new_participants())) << where;
        EXPECT_EQ(batched.HeapBytes(), fed.cell.HeapBytes()) << where;
      }
      fed.ExpectSame(std::to_string(people) + " people");
    }
  }
}

// Encoded and read back, a cell is the same cell, whether new_participants() was shared.
TEST(CellContentsTest, ProtoRoundTripKeepsNewParticipants) {
  for (const int all_new : {0, 50, 1 << 30}) {
    const Fed fed = Feed(7, 200, 60, all_new);
    v1::Cell proto;
    fed.cell.ToProto(&proto);
    CellContents read;
    ASSERT_TRUE(read.FromProto(proto).ok());
    EXPECT_EQ(Bytes(read.participants), Bytes(fed.all)) << all_new;
    EXPECT_EQ(Bytes(read.new_participants()), Bytes(fed.fresh)) << all_new;
    v1::Cell again;
    read.ToProto(&again);
    EXPECT_EQ(again.SerializeAsString(), proto.SerializeAsString()) << all_new;
    // Shared, the new participants take no memory of their own.
    if (all_new == 1 << 30) {
      EXPECT_LT(read.HeapBytes(), 2 * fed.all.MemoryBytes());
    }
  }
}

// An increment merged onto a cell: the union of both sides' sketches, each side shared or
// not.
TEST(CellContentsTest, MergeIncrementUnitesNewParticipants) {
  for (const bool held_all_new : {false, true}) {
    for (const bool gained_all_new : {false, true}) {
      const Fed held = Feed(1, 150, 80, held_all_new ? 1 << 30 : 20);
      const Fed gained = Feed(2, 150, 80, gained_all_new ? 1 << 30 : 20);
      v1::Cell increment;
      gained.cell.ToProto(&increment);
      increment.set_increment(true);
      CellContents cell = held.cell;
      ASSERT_TRUE(cell.MergeIncrement(increment).ok());
      ParticipantSketch all = held.all, fresh = held.fresh;
      all.Merge(gained.all);
      fresh.Merge(gained.fresh);
      const std::string when = std::to_string(held_all_new) + std::to_string(gained_all_new);
      EXPECT_EQ(Bytes(cell.participants), Bytes(all)) << when;
      EXPECT_EQ(Bytes(cell.new_participants()), Bytes(fresh)) << when;
    }
  }
}

// CellContents::FromProto shares new_participants() when its encoding equals the
// participants' (SameSketch compares each field of v1::ParticipantSketch by hand): a field
// added to the message must be compared there too, or two sketches differing only in it would
// be taken for one.
TEST(CellContentsTest, SameSketchComparesEveryFieldOfTheEncoding) {
  EXPECT_EQ(v1::ParticipantSketch::descriptor()->field_count(), 7)
      << "compare the new field in CellContents::SameSketch, then update this count";
}

}  // namespace
}  // namespace civicpulse::core
