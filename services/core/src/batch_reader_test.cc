#include "civicpulse/core/batch_reader.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

using ::testing::ElementsAre;

v1::BatchHeader Header(int64_t epoch, uint64_t owner, int64_t batch, int index, int count,
                       bool snapshot = false) {
  v1::BatchHeader h;
  h.set_epoch(epoch);
  h.set_owner(owner);
  h.set_batch(batch);
  h.set_index(index);
  h.set_count(count);
  h.set_snapshot(snapshot);
  return h;
}

class BatchReaderTest : public ::testing::Test {
 protected:
  // Feeds a whole batch of `n` records named prefix0..; returns the records handed out.
  std::vector<std::string> Feed(int64_t epoch, uint64_t owner, int64_t batch, int n,
                                bool snapshot, const std::string& prefix, int partition = 0) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      BatchReader<std::string>::Batch b;
      if (reader_.Add(partition, Header(epoch, owner, batch, i, i == n - 1 ? n : 0, snapshot),
                      prefix + std::to_string(i), &b)) {
        out = b.records;
        last_snapshot_ = b.snapshot;
      }
    }
    return out;
  }

  BatchReader<std::string> reader_;
  bool last_snapshot_ = false;
};

TEST_F(BatchReaderTest, HandsOutCompleteBatchesOnly) {
  EXPECT_THAT(Feed(0, 1, 0, 3, true, "s"), ElementsAre("s0", "s1", "s2"));
  EXPECT_TRUE(last_snapshot_);
  EXPECT_THAT(Feed(0, 1, 1, 2, false, "d"), ElementsAre("d0", "d1"));
  EXPECT_FALSE(last_snapshot_);
  EXPECT_EQ(reader_.stats().batches, 2u);
}

TEST_F(BatchReaderTest, IgnoresDeltasBeforeTheFirstSnapshot) {
  // The log's start was cut by retention: a delta without its base.
  EXPECT_TRUE(Feed(0, 1, 4, 2, false, "d").empty());
  EXPECT_FALSE(reader_.has_state(0));
  EXPECT_THAT(Feed(0, 1, 5, 1, true, "s"), ElementsAre("s0"));
  EXPECT_TRUE(reader_.has_state(0));
}

TEST_F(BatchReaderTest, DropsABatchWhoseWriterDiedMidway) {
  Feed(0, 1, 0, 1, true, "s");
  BatchReader<std::string>::Batch b;
  // Two records of a three-record delta, then the writer is gone.
  EXPECT_FALSE(reader_.Add(0, Header(0, 1, 1, 0, 0), "x0", &b));
  EXPECT_FALSE(reader_.Add(0, Header(0, 1, 1, 1, 0), "x1", &b));
  // Its successor (same owner restarted: new epoch, snapshot) replaces it.
  EXPECT_THAT(Feed(1, 2, 0, 1, true, "n"), ElementsAre("n0"));
  EXPECT_EQ(reader_.stats().dropped_records, 2u);
}

TEST_F(BatchReaderTest, DeltaAfterAGapWaitsForTheNextSnapshot) {
  Feed(0, 1, 0, 1, true, "s");
  BatchReader<std::string>::Batch b;
  // Batch 1 lost its first record; batch 2 must not apply on top of batch 0.
  EXPECT_FALSE(reader_.Add(0, Header(0, 1, 1, 1, 2), "lost", &b));
  EXPECT_TRUE(Feed(0, 1, 2, 1, false, "d").empty());
  EXPECT_FALSE(reader_.has_state(0));
  EXPECT_THAT(Feed(0, 1, 3, 1, true, "s"), ElementsAre("s0"));
}

TEST_F(BatchReaderTest, FencesAZombieOfAnOlderEpoch) {
  Feed(3, 7, 0, 1, true, "old");
  EXPECT_THAT(Feed(4, 9, 0, 1, true, "new"), ElementsAre("new0"));
  // The old owner wakes up and writes a delta and even a snapshot: both ignored.
  EXPECT_TRUE(Feed(3, 7, 1, 1, false, "zombie").empty());
  EXPECT_TRUE(Feed(3, 7, 2, 1, true, "zombie").empty());
  EXPECT_EQ(reader_.stats().fenced_records, 2u);
  EXPECT_THAT(Feed(4, 9, 1, 1, false, "d"), ElementsAre("d0"));
  EXPECT_EQ(reader_.max_epoch(0), 4);
}

TEST_F(BatchReaderTest, FencesASecondClaimOfTheSameEpoch) {
  EXPECT_THAT(Feed(5, 1, 0, 1, true, "first"), ElementsAre("first0"));
  EXPECT_TRUE(Feed(5, 2, 0, 1, true, "second").empty());
  EXPECT_EQ(reader_.stats().fenced_records, 1u);
}

TEST_F(BatchReaderTest, AnOldOwnersLastBatchAmongTheNewOwnersSnapshotBreaksNeither) {
  Feed(3, 7, 0, 1, true, "old");
  // The old owner's last delta (acknowledged after the group had moved the partition on) lands
  // between the records of the new owner's first snapshot.
  BatchReader<std::string>::Batch b;
  std::vector<std::vector<std::string>> out;
  auto add = [&](int64_t epoch, uint64_t owner, int64_t batch, int index, int count, bool snapshot,
                 const std::string& record) {
    if (reader_.Add(0, Header(epoch, owner, batch, index, count, snapshot), std::string(record),
                    &b)) {
      out.push_back(b.records);
    }
  };
  add(4, 9, 0, 0, 0, true, "new0");
  add(3, 7, 1, 0, 0, false, "last0");
  add(4, 9, 0, 1, 0, true, "new1");
  add(3, 7, 1, 1, 2, false, "last1");  // completes the old lineage's delta: still its own
  add(4, 9, 0, 2, 3, true, "new2");    // completes the new snapshot, which replaces it
  EXPECT_THAT(out, ElementsAre(ElementsAre("last0", "last1"), ElementsAre("new0", "new1", "new2")));
  EXPECT_TRUE(b.snapshot);  // the last one handed out
  // The new lineage goes on from its snapshot; the old one is fenced from now on.
  EXPECT_THAT(Feed(4, 9, 1, 1, false, "d"), ElementsAre("d0"));
  EXPECT_TRUE(Feed(3, 7, 2, 1, false, "zombie").empty());
  EXPECT_EQ(reader_.stats().fenced_records, 1u);
  EXPECT_EQ(reader_.stats().dropped_records, 0u);
}

TEST_F(BatchReaderTest, ABatchLeftOpenByAFencedLineageIsDropped) {
  Feed(3, 7, 0, 1, true, "old");
  BatchReader<std::string>::Batch b;
  // The old owner dies midway through a delta; the new owner's snapshot fences it.
  EXPECT_FALSE(reader_.Add(0, Header(3, 7, 1, 0, 0), "half", &b));
  EXPECT_THAT(Feed(4, 9, 0, 1, true, "new"), ElementsAre("new0"));
  EXPECT_EQ(reader_.stats().dropped_records, 1u);
  // Its second half, should it still arrive, is fenced.
  EXPECT_FALSE(reader_.Add(0, Header(3, 7, 1, 1, 2), "rest", &b));
  EXPECT_EQ(reader_.stats().fenced_records, 1u);
}

TEST_F(BatchReaderTest, SourcePartitionsAreIndependent) {
  BatchReader<std::string>::Batch b;
  EXPECT_FALSE(reader_.Add(0, Header(0, 1, 0, 0, 0, true), "a0", &b));
  EXPECT_TRUE(reader_.Add(1, Header(0, 1, 0, 0, 1, true), "b0", &b));
  EXPECT_EQ(b.source_partition, 1);
  EXPECT_TRUE(reader_.Add(0, Header(0, 1, 0, 1, 2, true), "a1", &b));
  EXPECT_THAT(b.records, ElementsAre("a0", "a1"));
}

}  // namespace
}  // namespace civicpulse::core
