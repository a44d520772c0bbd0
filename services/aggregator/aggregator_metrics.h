// AggregatorMetrics: every metric civicpulse-aggregator exports (docs/reference.md, "Pipeline health
// metrics"), registered once at start-up on an injected registry. The per-partition lag
// series are added when a partition is assigned and removed when it is revoked.
//
// prometheus-cpp metrics are thread-safe: the consume loop updates them while the HTTP
// thread collects.
#pragma once

#include <cstdint>
#include <string>

#include "civicpulse/core/partition_aggregator.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace civicpulse::aggregator {

struct AggregatorMetrics {
  explicit AggregatorMetrics(prometheus::Registry& registry);

  prometheus::Counter& Outcome(core::Outcome outcome);

  prometheus::Family<prometheus::Counter>& events;
  prometheus::Counter& applied;
  prometheus::Counter& duplicate;
  prometheus::Counter& late;
  prometheus::Counter& invalid;
  prometheus::Gauge& watermark_delay_seconds;
  prometheus::Family<prometheus::Gauge>& lag_records;
  prometheus::Family<prometheus::Gauge>& lag_seconds;
  prometheus::Gauge& assigned_partitions;
  prometheus::Counter& dlq_records;
  prometheus::Counter& published_records;
  prometheus::Counter& dropped_records;
  prometheus::Counter& publish_failures;
  prometheus::Counter& dlq_truncated;
  prometheus::Gauge& dlq_pending;
  // Bytes written per log ("aggregates", "changelog") and batch kind.
  prometheus::Counter& Checkpoint(const std::string& log, bool snapshot);
  prometheus::Family<prometheus::Counter>& checkpoint_bytes;
  prometheus::Gauge& largest_snapshot_bytes;
  prometheus::Gauge& restore_duration_seconds;
  prometheus::Counter& restored_partitions;
  prometheus::Counter& restore_fenced_records;
  prometheus::Counter& restore_failures;
};

// The lag series of one owned partition; Remove() takes them out of the families.
class PartitionLagSeries {
 public:
  PartitionLagSeries(AggregatorMetrics* metrics, const std::string& topic, int32_t partition);
  ~PartitionLagSeries();
  PartitionLagSeries(const PartitionLagSeries&) = delete;
  PartitionLagSeries& operator=(const PartitionLagSeries&) = delete;

  void Set(double records, double seconds) {
    records_.Set(records);
    seconds_.Set(seconds);
  }

 private:
  AggregatorMetrics* metrics_;
  prometheus::Gauge& records_;
  prometheus::Gauge& seconds_;
};

}  // namespace civicpulse::aggregator
