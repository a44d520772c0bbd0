// OwnedPartitions: the partitions of the events topic this aggregator instance owns. Each
// OwnedPartition holds its event-time engine (core::PartitionAggregator), how far it has
// consumed, the lineage it writes its logs under and where each log stands (the
// Checkpointer's bookkeeping), and its lag series.
//
// Thread-compatible: the consume thread calls everything, rebalance callbacks included.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "aggregator_metrics.h"
#include "batch_writer.h"
#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/engine_options.h"
#include "civicpulse/core/partition_aggregator.h"

namespace civicpulse::aggregator {

// Where one of a partition's logs (aggregates or changelog) stands.
struct LogCursor {
  int64_t next_batch = 0;
  // The next batch must be a snapshot: a new lineage, a failed write, or the policy below.
  bool snapshot_due = true;
  size_t bytes_since_snapshot = 0;
  size_t last_snapshot_bytes = 0;
  int64_t last_snapshot_ms = 0;
  // The Checkpointer granted this cycle a snapshot the policy calls for (Due, and within the
  // cycle's budget: Checkpointer::GrantSnapshots).
  bool snapshot_granted = false;

  // The policy calls for a snapshot (besides a required one, snapshot_due) once the deltas
  // since the last one outweigh it (and `min_bytes`), so that the log never holds more than
  // about three snapshots' worth to restore from, or once `interval_ms` has passed
  // (time-based retention must never drop the only one).
  bool Due(int64_t now_ms, size_t min_bytes, int64_t interval_ms) const {
    return bytes_since_snapshot >= std::max(min_bytes, last_snapshot_bytes) ||
           now_ms - last_snapshot_ms >= interval_ms;
  }
  // The next batch is a snapshot: required, or granted for this cycle.
  bool SnapshotNext() const { return snapshot_due || snapshot_granted; }
  void Wrote(bool snapshot, size_t bytes, int64_t now_ms) {
    ++next_batch;
    if (snapshot) {
      snapshot_due = false;
      bytes_since_snapshot = 0;
      last_snapshot_bytes = bytes;
      last_snapshot_ms = now_ms;
    } else {
      bytes_since_snapshot += bytes;
    }
  }
};

struct OwnedPartition {
  OwnedPartition(int32_t number, std::unique_ptr<core::PartitionAggregator> engine,
                 int64_t next_offset, Lineage lineage, int64_t now_ms,
                 AggregatorMetrics* metrics, const std::string& topic)
      : number(number),
        engine(std::move(engine)),
        next_offset(next_offset),
        checkpointed_offset(next_offset),
        lineage(lineage),
        lag(metrics, topic, number),
        assigned_at_ms(now_ms) {}

  int32_t number;
  std::unique_ptr<core::PartitionAggregator> engine;
  // Next source offset to apply; -1 while unknown (reading from the earliest retained).
  int64_t next_offset;
  // Source offset covered by the last acknowledged changelog batch (-1: none).
  int64_t checkpointed_offset;
  // Wall-clock time before which a cycle writes no changelog batch (--checkpoint-interval).
  int64_t checkpoint_due_ms = 0;
  int64_t committed_offset = -1;
  // What the last acknowledged aggregates batch said.
  int64_t published_offset = -1;
  int64_t published_watermark = -1;
  Lineage lineage;
  LogCursor aggregates;
  LogCursor changelog;
  PartitionLagSeries lag;
  int64_t assigned_at_ms;
  int64_t last_record_ms = 0;  // Kafka timestamp of the last consumed record
  // Wall-clock time of the last UpdateHealthMetrics that found the partition consumed to its
  // end (0: not since it was assigned).
  int64_t caught_up_at_ms = 0;
};

class OwnedPartitions {
 public:
  // `metrics` must outlive this object.
  OwnedPartitions(std::string topic, core::EngineOptions engine, core::AreaCapOptions areas,
                  AggregatorMetrics* metrics);

  // A new engine for a partition with no checkpoint (the caller reads it from the start).
  // It tracks its changes for the changelog unless set_checkpoints(false) (benchmarks).
  std::unique_ptr<core::PartitionAggregator> NewEngine();
  void set_checkpoints(bool on) { checkpoints_ = on; }
  // Takes ownership of `partition` (restored or new); it starts at `next_offset`.
  OwnedPartition* Assign(int32_t partition, std::unique_ptr<core::PartitionAggregator> engine,
                         int64_t next_offset, Lineage lineage, int64_t now_ms);
  // Forgets `partition` and removes its series.
  void Drop(int32_t partition);
  OwnedPartition* Find(int32_t partition);
  bool Owns(int32_t partition) const { return partitions_.contains(partition); }
  // Sorted partition numbers; and the partitions themselves, in that order.
  std::vector<int32_t> Numbers() const;
  std::vector<OwnedPartition*> All();
  size_t size() const { return partitions_.size(); }
  const std::string& topic() const { return topic_; }
  const core::EngineOptions& engine_options() const { return engine_; }

  // Sets the watermark delay, consumer lag and assigned-partitions metrics, and at most every
  // kStateBytesEveryMs the state's size.
  // `high_watermark(partition)` returns the partition's log end offset as last fetched (it must
  // not block); a partition it has none for keeps its last lag.
  // The lag in seconds (the age of the oldest unconsumed record) is bounded by two facts: that
  // record is no older than the last consumed one, and, once an earlier call found the
  // partition consumed to its end, it was written after that call (less
  // kHighWatermarkStaleMs, how old a fetched log end offset may be). Without the second, a
  // record fetched but not yet polled on a partition silent for an hour read as an hour of
  // lag: a spike that marks the pipeline degraded and holds back the drop alerts.
  void UpdateHealthMetrics(
      int64_t now_ms, const std::function<absl::StatusOr<int64_t>(int32_t)>& high_watermark);
  // The consumer fetches with fetch.wait.max.ms 100 (kafka/consumer.cc): a log end offset it
  // reports is at most this old, with room to spare.
  static constexpr int64_t kHighWatermarkStaleMs = 1'000;

 private:
  std::string topic_;
  core::EngineOptions engine_;
  AggregatorMetrics* metrics_;
  core::AreaCapOptions areas_;  // each partition's engine gets a cap of its own
  bool checkpoints_ = true;
  absl::flat_hash_map<int32_t, std::unique_ptr<OwnedPartition>> partitions_;
  static constexpr int64_t kStateBytesEveryMs = 10'000;
  int64_t state_bytes_due_ms_ = 0;  // when UpdateHealthMetrics next sums the engines' sizes
};

}  // namespace civicpulse::aggregator
