// OwnedPartitions: the partitions of the events topic this aggregator instance owns, each with
// its PartitionAggregator and consume position. It routes consumed records (decode, then
// apply, or dead-letter the value unchanged), publishes partial aggregates (changed cells and
// a progress record per partition) to the aggregates topic, and tells which consumed offsets
// may be committed: only once Kafka acknowledged every record published for them.
//
// A partition's state is the fold of its records in offset order from the earliest retained
// offset. A record whose offset is below the position already reached means the partition was
// re-positioned (revoked and assigned again within one poll batch): its state restarts.
//
// Uses the kafka::Producer interface only (tests pass a fake). Thread-compatible: the consume
// thread calls everything, rebalance callbacks included.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aggregator_metrics.h"
#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/engine_options.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/partition_aggregator.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/kafka/producer.h"
#include "civicpulse/v1/aggregate.pb.h"

namespace civicpulse::aggregator {

struct OwnedPartitionsOptions {
  std::string topic = kafka::kEventsTopic;
  std::string dlq_topic = kafka::kDeadLetterTopic;
  std::string aggregates_topic = kafka::kAggregatesTopic;
  std::string instance_id;  // PartialAggregate.producer
  core::EngineOptions engine;
  core::AreaCapOptions areas;
  // How long Publish() waits for Kafka's acknowledgements.
  absl::Duration flush_timeout = absl::Seconds(10);
};

// Kafka key of a cell record: "<area>/<width>s/<start>", e.g. "W01/60s/1700000040".
std::string CellKey(const v1::Cell& cell);
// Kafka key of a progress record: "progress/<topic>/<partition>".
std::string ProgressKey(const std::string& topic, int32_t partition);

class OwnedPartitions {
 public:
  // `producer` and `metrics` must outlive this object.
  OwnedPartitions(OwnedPartitionsOptions options, kafka::Producer* producer,
                  AggregatorMetrics* metrics);
  ~OwnedPartitions();
  OwnedPartitions(const OwnedPartitions&) = delete;
  OwnedPartitions& operator=(const OwnedPartitions&) = delete;

  // Starts an empty state for `partition`; the caller reads it from the earliest offset.
  void Assign(int32_t partition, int64_t now_ms);
  // Forgets `partition` and removes its series (publish and commit it first).
  void Drop(int32_t partition);
  bool Owns(int32_t partition) const { return partitions_.contains(partition); }
  std::vector<int32_t> Partitions() const;
  size_t size() const { return partitions_.size(); }

  // Decodes and applies a batch received at `now_ms`. Records of partitions not owned are
  // skipped; rejected values go to the dead-letter topic with headers `error` and
  // `error-detail`. Never fails: problems surface in the next Publish().
  void Consume(const std::vector<kafka::ConsumerRecord>& batch, int64_t now_ms);

  // Ticks the given partitions (all owned ones when null), produces their changed cells
  // (every live cell when `all_cells`) and their progress, then waits until Kafka
  // acknowledged every record queued so far (dead letters included). Returns the offsets that
  // are now safe to commit (those past the last committed one); the caller commits them and
  // reports it with MarkCommitted(). On failure nothing may be committed, and the next
  // Publish() of those partitions re-sends every cell.
  absl::StatusOr<std::vector<kafka::TopicPartition>> Publish(
      const std::vector<int32_t>* partitions, bool all_cells, int64_t now_ms);
  void MarkCommitted(const std::vector<kafka::TopicPartition>& offsets);

  // Sets the watermark delay, consumer lag and assigned-partitions metrics.
  // `high_watermark(partition)` returns the partition's log end offset.
  void UpdateHealthMetrics(
      int64_t now_ms, const std::function<absl::StatusOr<int64_t>(int32_t)>& high_watermark);

 private:
  struct Partition;
  Partition* Find(int32_t partition);
  void Restart(Partition* partition);
  void DeadLetter(const kafka::ConsumerRecord& record, const absl::Status& status);
  absl::Status ProduceRecord(const std::string& key);

  OwnedPartitionsOptions options_;
  kafka::Producer* producer_;
  AggregatorMetrics* metrics_;
  core::AreaCap areas_;
  absl::flat_hash_map<int32_t, std::unique_ptr<Partition>> partitions_;

  // Scratch reused across records and publishes (the hot path does not allocate).
  core::EventCodec codec_;
  core::Event event_;
  std::vector<v1::Cell> cells_;
  v1::PartialAggregate record_;
  std::string key_;
  std::string value_;
  // First failure to queue a record since the last Publish(); Publish() reports it.
  absl::Status produce_error_;
};

}  // namespace civicpulse::aggregator
