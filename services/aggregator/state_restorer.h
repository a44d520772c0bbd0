// StateRestorer: rebuilds the state of newly assigned partitions from the changelog
// (docs/delivery.md). For each, it reads the changelog partition that holds it from the
// earliest retained record to the end, keeps the complete batches of the current lineage
// (core::BatchReader: the last snapshot and every delta after it; fenced zombies and
// half-written batches ignored) and applies them to a fresh engine. The result says where
// consuming resumes (the offset the last batch covers; the earliest retained record when the
// partition has no checkpoint) and the highest epoch seen, so the new owner's lineage is newer.
//
// Reads through its own short-lived kafka::Consumer (manual assignment, no group).
// Thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "civicpulse/kafka/client_config.h"
#include "owned_partitions.h"

namespace civicpulse::aggregator {

struct RestoredPartition {
  int32_t partition = 0;
  // The restored engine; a fresh one when there was no checkpoint.
  std::unique_ptr<core::PartitionAggregator> engine;
  bool from_checkpoint = false;
  // Next source offset to consume; kafka::kOffsetBeginning without a checkpoint.
  int64_t next_offset = 0;
  // Highest epoch any changelog record of the partition carried; -1 when none.
  int64_t max_epoch = -1;
};

struct StateRestorerStats {
  uint64_t records = 0;
  uint64_t fenced_records = 0;
  uint64_t dropped_records = 0;
};

class StateRestorer {
 public:
  // `owned` (for fresh engines) must outlive this object.
  StateRestorer(kafka::ClientConfig kafka, std::string source_topic,
                std::string changelog_topic, int changelog_partitions, OwnedPartitions* owned)
      : kafka_(std::move(kafka)),
        source_topic_(std::move(source_topic)),
        changelog_topic_(std::move(changelog_topic)),
        changelog_partitions_(changelog_partitions < 1 ? 1 : changelog_partitions),
        owned_(owned) {}

  // Restores `partitions` at wall-clock `now_ms`; Unavailable when the changelog cannot be
  // read to its end within `timeout`, or sooner when Kafka is unreachable (a request
  // unanswered, or client errors with nothing read, for kRequestTimeout): the caller reports
  // that on /healthz and tries again.
  static constexpr absl::Duration kRequestTimeout = absl::Seconds(10);
  absl::StatusOr<std::vector<RestoredPartition>> Restore(const std::vector<int32_t>& partitions,
                                                         int64_t now_ms,
                                                         absl::Duration timeout,
                                                         StateRestorerStats* stats);

 private:
  kafka::ClientConfig kafka_;
  std::string source_topic_;
  std::string changelog_topic_;
  int changelog_partitions_;
  OwnedPartitions* owned_;
};

}  // namespace civicpulse::aggregator
