#include "cell_contents.h"

#include <cstdint>
#include <random>
#include <string>

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

// A cell whose participants were all new is written with new_are_participants and without
// the copy; one with a returning participant writes its new participants and no flag.
TEST(CellContentsTest, AllNewCellLeavesTheCopyOut) {
  for (const int all_new : {0, 50, 1 << 30}) {
    const Fed fed = Feed(7, 200, 60, all_new);
    v1::Cell proto;
    fed.cell.ToProto(&proto);
    const bool shared = all_new == 1 << 30;
    EXPECT_EQ(proto.new_are_participants(), shared) << all_new;
    EXPECT_EQ(proto.has_new_participants(), !shared) << all_new;
  }
}

// A cell written before new_are_participants existed carries an equal copy: read the same
// (shared), and written back in the shorter form.
TEST(CellContentsTest, ReadsTheCopyOlderWritersSent) {
  const Fed fed = Feed(7, 200, 60, 1 << 30);
  v1::Cell proto;
  fed.cell.ToProto(&proto);
  proto.set_new_are_participants(false);
  *proto.mutable_new_participants() = proto.participants();
  CellContents read;
  ASSERT_TRUE(read.FromProto(proto).ok());
  EXPECT_EQ(Bytes(read.new_participants()), Bytes(fed.all));
  EXPECT_LT(read.HeapBytes(), 2 * fed.all.MemoryBytes());  // shared
  v1::Cell again;
  read.ToProto(&again);
  EXPECT_TRUE(again.new_are_participants());
  EXPECT_FALSE(again.has_new_participants());
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
