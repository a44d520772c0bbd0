// RecordRouter: what happens to each consumed record of the events topic. A record of an
// owned partition at or past the partition's position is decoded and applied to its engine,
// or, when it cannot be decoded, handed to the DeadLetterQueue with its reason; a record
// below the position (re-delivered after a rebalance inside one poll) is skipped, as is a
// record of a partition not owned. Outcomes are counted in AggregatorMetrics.
//
// A batch is worked by `threads` lanes at once: the calling thread and threads - 1 helper
// threads of the router's own, as Kafka Streams' stream threads share a member's partitions.
// Each partition's records in the batch go to one lane, in offset order (an engine is touched
// by one thread at a time, and engines share nothing), and partitions are dealt to lanes
// largest first, so that the lanes finish together. Route returns once every lane is done:
// rebalances, checkpoints and commits run between batches, on the consume thread, with the
// helpers asleep. Batches shorter than kMinParallel records, or of one partition, stay on the
// calling thread (a hand-over costs a wake-up; at a trickle there is nothing to share).
//
// Within a lane each record is decoded kAhead records before it is applied, and its engine is
// asked then to prepare it (PartitionAggregator::Prepare: its keys worked out, and what Apply
// will touch prefetched): the event-id and new-participant memories are large tables read at
// random, and their cache misses overlap the work on the records before. Dead
// letters are queued and outcomes counted on the calling thread once the lanes are done, in
// the batch's order.
//
// Thread-compatible: the consume thread calls Route. The hot path does not allocate.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
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
  // Batches shorter than this are routed on the calling thread alone.
  static constexpr size_t kMinParallel = 256;
  // Records decoded ahead of the one applied, per lane.
  static constexpr size_t kAhead = 8;

  // Every pointer must outlive this object. `threads` (at least 1): lanes per batch, the
  // calling thread's included.
  RecordRouter(OwnedPartitions* owned, DeadLetterQueue* dead_letters, AggregatorMetrics* metrics,
               int threads);
  ~RecordRouter();
  RecordRouter(const RecordRouter&) = delete;
  RecordRouter& operator=(const RecordRouter&) = delete;

  // Routes a batch received at wall-clock `now_ms`.
  void Route(const std::vector<kafka::ConsumerRecord>& batch, int64_t now_ms);

  // Records routed on the helper threads, for tests.
  uint64_t routed_on_helpers() const { return on_helpers_.load(std::memory_order_relaxed); }

 private:
  // One record of a lane: its index in the batch, and its partition (null: not owned).
  struct Item {
    uint32_t index;
    OwnedPartition* owner;
  };
  // What a lane counted (summed into AggregatorMetrics by Route).
  struct Counts {
    uint64_t outcomes[3] = {0, 0, 0};
    uint64_t invalid = 0;
    uint64_t dropped = 0;
    uint64_t skipped = 0;
    uint64_t dedup_evicted = 0;
  };
  struct Lane {
    std::vector<Item> items;  // in batch order
    uint64_t load = 0;        // records dealt to it this batch
    core::EventCodec codec;
    std::array<core::Event, kAhead> events;  // ring: item j decoded into events[j % kAhead]
    std::array<absl::Status, kAhead> statuses;
    std::array<core::PartitionAggregator::Prepared, kAhead> prepared;
    Counts counts;
    std::vector<std::pair<uint32_t, absl::Status>> invalid;  // (batch index, reason)
  };
  // One partition of the batch being dealt.
  struct Share {
    int32_t partition;
    OwnedPartition* owner;
    uint64_t records = 0;
    size_t lane = 0;
  };

  // Splits `batch` into the lanes' items; returns how many lanes have work.
  size_t Deal(const std::vector<kafka::ConsumerRecord>& batch);
  // Decodes and applies a lane's items (on whichever thread runs the lane).
  void RunLane(Lane& lane);
  void Helper(size_t lane);

  OwnedPartitions* owned_;
  DeadLetterQueue* dead_letters_;
  AggregatorMetrics* metrics_;
  // The batch being routed and its time, for the lanes (set before the helpers are woken).
  const std::vector<kafka::ConsumerRecord>* batch_ = nullptr;
  int64_t now_ms_ = 0;
  std::vector<std::unique_ptr<Lane>> lanes_;  // [0] is the calling thread's
  // Deal's scratch.
  std::vector<Share> shares_;
  // By ShareSlot(partition): the partition's index in shares_ + 1, or 0 (all zero between
  // batches).
  std::vector<uint32_t> share_of_;
  // Partitions are >= 0 from Kafka (-1 is librdkafka's "unassigned"; anything lower shares
  // its slot, and is not owned either).
  static size_t ShareSlot(int32_t partition) {
    return static_cast<size_t>(std::max<int64_t>(int64_t{partition} + 1, 0));
  }
  std::vector<size_t> order_;
  std::vector<std::pair<uint32_t, absl::Status>> invalid_;
  // Bumped by Route to hand a batch to the helpers; they wait on it. 32-bit: what
  // std::atomic's wait and notify map straight onto a futex.
  std::atomic<uint32_t> generation_{0};
  // Helpers still working on the batch; Route waits for zero.
  std::atomic<uint32_t> pending_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> on_helpers_{0};
  std::vector<std::thread> helpers_;  // last: started once the members above exist
};

}  // namespace civicpulse::aggregator
