#include "civicpulse/core/batch_reader.h"

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
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

// Owners hand a partition on while their records land interleaved in any order that keeps
// each writer's own order: whatever the interleaving, every batch of the last owner (highest
// epoch) is handed out whole, in order, snapshot first, and once its snapshot is out nothing
// of an older owner follows.
TEST(BatchReaderPropertyTest, TheLastOwnersBatchesAllArriveWhateverTheInterleaving) {
  std::mt19937_64 rng(5);
  for (int round = 0; round < 2000; ++round) {
    SCOPED_TRACE(round);
    struct Written {
      v1::BatchHeader header;
      std::string record;
    };
    const int writers = 2 + static_cast<int>(rng() % 2);
    std::vector<std::vector<Written>> logs(writers);
    std::vector<std::vector<std::vector<std::string>>> batches(writers);
    for (int w = 0; w < writers; ++w) {
      const int count = 1 + static_cast<int>(rng() % 4);  // a snapshot, then deltas
      for (int batch = 0; batch < count; ++batch) {
        const int n = 1 + static_cast<int>(rng() % 4);
        batches[w].emplace_back();
        for (int i = 0; i < n; ++i) {
          const std::string record = absl::StrCat("w", w, "b", batch, "r", i);
          logs[w].push_back({Header(10 + w, 100 + static_cast<uint64_t>(w), batch, i,
                                    i == n - 1 ? n : 0, batch == 0),
                             record});
          batches[w].back().push_back(record);
        }
      }
    }
    BatchReader<std::string> reader;
    std::vector<size_t> next(writers, 0);
    std::vector<std::pair<int, std::vector<std::string>>> out;  // (writer, records)
    for (;;) {
      std::vector<int> left;
      for (int w = 0; w < writers; ++w) {
        if (next[w] < logs[w].size()) left.push_back(w);
      }
      if (left.empty()) break;
      const int w = left[rng() % left.size()];
      const Written& r = logs[w][next[w]++];
      BatchReader<std::string>::Batch b;
      if (reader.Add(0, r.header, std::string(r.record), &b)) {
        out.emplace_back(static_cast<int>(r.header.epoch() - 10), b.records);
      }
    }
    const int last = writers - 1;
    std::vector<std::vector<std::string>> last_out;
    bool last_started = false;
    for (const auto& [w, records] : out) {
      if (w == last) {
        last_started = true;
        last_out.push_back(records);
      } else {
        EXPECT_FALSE(last_started) << "an older owner's batch after the last owner's snapshot";
      }
    }
    EXPECT_EQ(last_out, batches[last]);
    EXPECT_TRUE(reader.has_state(0));
  }
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
