#include "owned_partitions.h"

#include <algorithm>
#include <limits>

namespace civicpulse::aggregator {

OwnedPartitions::OwnedPartitions(std::string topic, core::EngineOptions engine,
                                 core::AreaCapOptions areas, AggregatorMetrics* metrics)
    : topic_(std::move(topic)),
      engine_(std::move(engine)),
      metrics_(metrics),
      areas_(std::move(areas)) {}

std::unique_ptr<core::PartitionAggregator> OwnedPartitions::NewEngine() {
  // A cap per partition (core/area_cap.h): the areas a partition admits depend on its log
  // alone, so they are the same whichever instance owns it and after every rebalance.
  auto engine = std::make_unique<core::PartitionAggregator>(engine_, areas_);
  // The exporter reads the aggregates through a BatchReader (each batch once, in order), so
  // large cells may travel as increments.
  engine->EnableIncrementalPublishing();
  if (checkpoints_) engine->EnableCheckpoints();
  return engine;
}

OwnedPartition* OwnedPartitions::Assign(int32_t partition,
                                        std::unique_ptr<core::PartitionAggregator> engine,
                                        int64_t next_offset, Lineage lineage, int64_t now_ms) {
  Drop(partition);  // removes stale series before re-adding them
  metrics_->outcomes->Add(engine->outcome_counts());
  auto owned = std::make_unique<OwnedPartition>(partition, std::move(engine), next_offset, lineage,
                                                now_ms, metrics_, topic_);
  OwnedPartition* out = owned.get();
  partitions_.emplace(partition, std::move(owned));
  metrics_->assigned_partitions.Set(static_cast<double>(partitions_.size()));
  return out;
}

void OwnedPartitions::Drop(int32_t partition) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return;
  metrics_->outcomes->Remove(it->second->engine->outcome_counts());
  partitions_.erase(it);
  metrics_->assigned_partitions.Set(static_cast<double>(partitions_.size()));
}

OwnedPartition* OwnedPartitions::Find(int32_t partition) {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? nullptr : it->second.get();
}

std::vector<int32_t> OwnedPartitions::Numbers() const {
  std::vector<int32_t> out;
  out.reserve(partitions_.size());
  for (const auto& [number, partition] : partitions_) out.push_back(number);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<OwnedPartition*> OwnedPartitions::All() {
  std::vector<OwnedPartition*> out;
  for (int32_t number : Numbers()) out.push_back(partitions_[number].get());
  return out;
}

void OwnedPartitions::UpdateHealthMetrics(
    int64_t now_ms, const std::function<absl::StatusOr<int64_t>(int32_t)>& high_watermark) {
  int64_t min_watermark = std::numeric_limits<int64_t>::max();
  size_t largest_snapshot = 0;
  for (const auto& [number, p] : partitions_) {
    largest_snapshot = std::max(largest_snapshot, p->changelog.last_snapshot_bytes);
    const int64_t watermark = p->engine->watermark_ms();
    if (watermark > 0) min_watermark = std::min(min_watermark, watermark);
    absl::StatusOr<int64_t> high = high_watermark(number);
    if (!high.ok()) continue;  // not fetched yet: keep the last values
    const int64_t position = std::max<int64_t>(p->next_offset, 0);
    const int64_t lag = std::max<int64_t>(*high - position, 0);
    double seconds = 0;
    if (lag == 0) {
      p->caught_up_at_ms = now_ms;
    } else {
      // The oldest unconsumed record is at most as old as the last consumed one (before the
      // first record, the time since assignment bounds it), and was written after the last
      // call that found the partition caught up (header: kHighWatermarkStaleMs).
      int64_t since = p->last_record_ms > 0 ? p->last_record_ms : p->assigned_at_ms;
      if (p->caught_up_at_ms > 0) {
        since = std::max(since, p->caught_up_at_ms - kHighWatermarkStaleMs);
      }
      seconds = std::max<double>(0, static_cast<double>(now_ms - since) / 1000.0);
    }
    p->lag.Set(static_cast<double>(lag), seconds);
  }
  metrics_->watermark_delay_seconds.Set(
      min_watermark == std::numeric_limits<int64_t>::max()
          ? 0
          : std::max<double>(0, static_cast<double>(now_ms - min_watermark) / 1000.0));
  metrics_->assigned_partitions.Set(static_cast<double>(partitions_.size()));
  metrics_->largest_snapshot_bytes.Set(static_cast<double>(largest_snapshot));
  // MemoryBytes walks every cell: not on every flush.
  if (now_ms >= state_bytes_due_ms_) {
    state_bytes_due_ms_ = now_ms + kStateBytesEveryMs;
    size_t bytes = 0;
    for (const auto& [number, p] : partitions_) bytes += p->engine->MemoryBytes();
    metrics_->state_bytes.Set(static_cast<double>(bytes));
  }
}

}  // namespace civicpulse::aggregator
