// RecordRouter: what happens to each consumed record of the events topic. A record of an
// owned partition at or past the partition's position is decoded and applied to its engine,
// or, when it cannot be decoded, handed to the DeadLetterQueue with its reason; a record
// below the position (re-delivered after a rebalance inside one poll) is skipped, as is a
// record of a partition not owned. Outcomes are counted in AggregatorMetrics.
//
// Records are decoded by a RecordDecoder (on a helper thread when the machine has a second
// core), and the engine is told kAhead records before each is applied to prefetch what it
// will touch (PartitionAggregator::Prefetch): the event-id and new-participant memories are
// large tables read at random, and their cache misses then overlap the work on the records
// before (1.2x on engine_benchmark BM_DecodeAheadAndApply). Records are still applied,
// counted and dead-lettered one by one in offset order, on the calling thread.
//
// Thread-compatible: the consume thread calls it. The hot path does not allocate.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "aggregator_metrics.h"
#include "civicpulse/core/event.h"
#include "civicpulse/kafka/consumer.h"
#include "dead_letters.h"
#include "owned_partitions.h"
#include "record_decoder.h"

namespace civicpulse::aggregator {

class RecordRouter {
 public:
  // Every pointer must outlive this object.
  // `decode_threads`: RecordDecoder's (1: decode on a helper thread, 0: inline).
  RecordRouter(OwnedPartitions* owned, DeadLetterQueue* dead_letters, AggregatorMetrics* metrics,
               int decode_threads)
      : owned_(owned), dead_letters_(dead_letters), metrics_(metrics), decoder_(decode_threads) {}

  // Routes a batch received at wall-clock `now_ms`.
  void Route(const std::vector<kafka::ConsumerRecord>& batch, int64_t now_ms);

 private:
  OwnedPartitions* owned_;
  DeadLetterQueue* dead_letters_;
  AggregatorMetrics* metrics_;
  // Prefetches for batch[i] (once decoded) in its partition's engine.
  void PrefetchFor(const std::vector<kafka::ConsumerRecord>& batch, size_t i);

  static constexpr size_t kAhead = 8;
  RecordDecoder decoder_;
  // PrefetchFor's last partition looked up, and its engine (null: not owned).
  int32_t ahead_partition_ = -1;
  core::PartitionAggregator* ahead_engine_ = nullptr;
};

}  // namespace civicpulse::aggregator
