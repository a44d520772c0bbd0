// RecordRouter: what happens to each consumed record of the events topic. A record of an
// owned partition at or past the partition's position is decoded and applied to its engine,
// or, when it cannot be decoded, handed to the DeadLetterQueue with its reason; a record
// below the position (re-delivered after a rebalance inside one poll) is skipped, as is a
// record of a partition not owned. Outcomes are counted in AggregatorMetrics.
//
// Thread-compatible: the consume thread calls it. The hot path does not allocate.
#pragma once

#include <cstdint>
#include <vector>

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
  core::EventCodec codec_;
  core::Event event_;
};

}  // namespace civicpulse::aggregator
