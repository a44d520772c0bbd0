// RecordRouter: what happens to each consumed record of the events topic. A record of an
// owned partition at or past the partition's position is decoded and applied to its engine,
// or, when it cannot be decoded, handed to the DeadLetterQueue with its reason; a record
// below the position (re-delivered after a rebalance inside one poll) is skipped, as is a
// record of a partition not owned. Outcomes are counted in AggregatorMetrics.
//
// Records are decoded kAhead records before they are applied, and the engine is told to
// prefetch what each will touch (PartitionAggregator::Prefetch): the event-id and
// new-participant memories are large tables read at random, and their cache misses then
// overlap the work on the records before (1.2x on engine_benchmark BM_DecodeAheadAndApply).
// Records are still applied, counted and dead-lettered one by one in offset order.
//
// Thread-compatible: the consume thread calls it. The hot path does not allocate.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"

#include "aggregator_metrics.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/kafka/consumer.h"
#include "dead_letters.h"
#include "owned_partitions.h"

namespace civicpulse::aggregator {

class RecordRouter {
 public:
  // Every pointer must outlive this object.
  RecordRouter(OwnedPartitions* owned, DeadLetterQueue* dead_letters,
               AggregatorMetrics* metrics)
      : owned_(owned), dead_letters_(dead_letters), metrics_(metrics) {}

  // Routes a batch received at wall-clock `now_ms`.
  void Route(const std::vector<kafka::ConsumerRecord>& batch, int64_t now_ms);

 private:
  OwnedPartitions* owned_;
  DeadLetterQueue* dead_letters_;
  AggregatorMetrics* metrics_;
  // Decodes batch[i] into its slot of ahead_ and prefetches for it.
  void DecodeAhead(const std::vector<kafka::ConsumerRecord>& batch, size_t i, int64_t now_ms);

  static constexpr size_t kAhead = 8;
  struct Decoded {
    absl::Status status;
    core::Event event;  // its strings keep their capacity from record to record
  };
  core::EventCodec codec_;
  std::array<Decoded, kAhead> ahead_;  // batch[i] in ahead_[i % kAhead]
  // DecodeAhead's last partition looked up, and its engine (null: not owned).
  int32_t ahead_partition_ = -1;
  core::PartitionAggregator* ahead_engine_ = nullptr;
};

}  // namespace civicpulse::aggregator
