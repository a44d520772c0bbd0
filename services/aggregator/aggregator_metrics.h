// AggregatorMetrics: every metric civicpulse-aggregator exports (docs/reference.md, "Pipeline
// health metrics"), registered once at start-up on an injected registry. The per-partition lag
// series are added when a partition is assigned and removed when it is revoked.
//
// prometheus-cpp metrics are thread-safe: the consume loop updates them while the HTTP
// thread collects.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "civicpulse/core/partition_aggregator.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace civicpulse::aggregator {

// civicpulse_aggregator_events_total{outcome}: the records of the owned partitions by
// outcome, counted once per record over the partition's whole history. The counts are part
// of each partition's checkpointed state, so a partition brings its count along when it is
// assigned (restored) and takes it away when revoked: summed over the instances of a group
// it is the number of records consumed, exactly, whatever restarts and rebalances happened
// (a replay after a crash is not counted twice). Within one instance the series steps up or
// down when partitions move, as a counter reset does. The same holds for the dedup
// evictions, civicpulse_aggregator_dedup_evicted_ids_total (OutcomeCounts::dedup_evicted).
//
// Thread-safe: the consume thread adds and removes, the HTTP thread collects.
class OutcomeTotals final : public prometheus::Collectable {
 public:
  void Add(const core::OutcomeCounts& counts) { Apply(counts, 1); }
  void Remove(const core::OutcomeCounts& counts) { Apply(counts, -1); }
  void Add(core::Outcome outcome, uint64_t n) {
    counts_[static_cast<int>(outcome)].fetch_add(static_cast<int64_t>(n));
  }
  void AddInvalid(uint64_t n) { counts_[3].fetch_add(static_cast<int64_t>(n)); }
  void AddDedupEvicted(uint64_t n) { counts_[4].fetch_add(static_cast<int64_t>(n)); }
  // Current value of one outcome ("applied", "duplicate", "late", "invalid"), or (4) of the
  // dedup evictions.
  int64_t value(int index) const { return counts_[index].load(); }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  void Apply(const core::OutcomeCounts& counts, int64_t sign);
  std::array<std::atomic<int64_t>, 5> counts_{};  // 4: dedup evictions
};

struct AggregatorMetrics {
  explicit AggregatorMetrics(prometheus::Registry& registry);

  // Not in the registry: serve it beside it (HttpServer::AddCollectable).
  std::shared_ptr<OutcomeTotals> outcomes = std::make_shared<OutcomeTotals>();
  prometheus::Gauge& watermark_delay_seconds;
  prometheus::Family<prometheus::Gauge>& lag_records;
  prometheus::Family<prometheus::Gauge>& lag_seconds;
  prometheus::Gauge& assigned_partitions;
  prometheus::Counter& dlq_records;
  prometheus::Counter& published_records;
  prometheus::Counter& dropped_records;
  prometheus::Counter& skipped_offsets;
  prometheus::Counter& publish_failures;
  prometheus::Counter& dlq_truncated;
  prometheus::Gauge& dlq_pending;
  // Bytes written per log ("aggregates", "changelog") and batch kind.
  prometheus::Counter& Checkpoint(const std::string& log, bool snapshot);
  prometheus::Family<prometheus::Counter>& checkpoint_bytes;
  prometheus::Gauge& largest_snapshot_bytes;
  prometheus::Gauge& state_bytes;
  prometheus::Counter& fetch_wakeups;
  prometheus::Gauge& restore_duration_seconds;
  prometheus::Counter& restored_partitions;
  prometheus::Counter& restore_fenced_records;
  prometheus::Counter& restore_failures;
  // civicpulse_aggregator_cycle_step_duration_seconds{step}: how long each step of a
  // checkpoint cycle held the consume loop: "publish" (aggregates and dead letters, produced
  // and acknowledged), "checkpoint" (the changelog, likewise), "commit" (the group offsets).
  prometheus::Histogram& publish_step_seconds;
  prometheus::Histogram& checkpoint_step_seconds;
  prometheus::Histogram& commit_step_seconds;
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
