#include "owned_partitions.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"

namespace civicpulse::aggregator {

struct OwnedPartitions::Partition {
  Partition(int32_t number, int64_t now_ms, const OwnedPartitionsOptions& options,
            core::AreaCap* areas, AggregatorMetrics* metrics)
      : number(number),
        aggregator(std::make_unique<core::PartitionAggregator>(options.engine, areas)),
        lag(metrics, options.topic, number),
        assigned_at_ms(now_ms) {}

  int32_t number;
  std::unique_ptr<core::PartitionAggregator> aggregator;
  PartitionLagSeries lag;
  int64_t assigned_at_ms;
  int64_t next_offset = -1;        // next offset to consume; -1 before the first record
  int64_t last_record_ms = 0;      // Kafka timestamp of the last consumed record
  int64_t committed_offset = -1;
  int64_t published_offset = -1;   // source_offset of the last acknowledged progress
  int64_t published_watermark = -1;
  bool full_publish_pending = false;
};

std::string CellKey(const v1::Cell& cell) {
  return absl::StrCat(cell.area(), "/", cell.width_seconds(), "s/", cell.start_unix_seconds());
}

std::string ProgressKey(const std::string& topic, int32_t partition) {
  return absl::StrCat("progress/", topic, "/", partition);
}

OwnedPartitions::OwnedPartitions(OwnedPartitionsOptions options, kafka::Producer* producer,
                                 AggregatorMetrics* metrics)
    : options_(std::move(options)),
      producer_(producer),
      metrics_(metrics),
      areas_(options_.areas) {}

OwnedPartitions::~OwnedPartitions() = default;

void OwnedPartitions::Assign(int32_t partition, int64_t now_ms) {
  partitions_.erase(partition);  // removes stale series before re-adding them
  partitions_.emplace(partition, std::make_unique<Partition>(partition, now_ms, options_,
                                                             &areas_, metrics_));
  metrics_->assigned_partitions.Set(static_cast<double>(partitions_.size()));
}

void OwnedPartitions::Drop(int32_t partition) {
  partitions_.erase(partition);
  metrics_->assigned_partitions.Set(static_cast<double>(partitions_.size()));
}

std::vector<int32_t> OwnedPartitions::Partitions() const {
  std::vector<int32_t> out;
  out.reserve(partitions_.size());
  for (const auto& [number, partition] : partitions_) out.push_back(number);
  std::sort(out.begin(), out.end());
  return out;
}

OwnedPartitions::Partition* OwnedPartitions::Find(int32_t partition) {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? nullptr : it->second.get();
}

void OwnedPartitions::Restart(Partition* partition) {
  partition->aggregator =
      std::make_unique<core::PartitionAggregator>(options_.engine, &areas_);
  partition->next_offset = -1;
  partition->full_publish_pending = true;
}

void OwnedPartitions::Consume(const std::vector<kafka::ConsumerRecord>& batch,
                              int64_t now_ms) {
  uint64_t outcomes[3] = {0, 0, 0};
  uint64_t invalid = 0;
  uint64_t dropped = 0;
  Partition* current = nullptr;
  int32_t current_number = -1;
  for (const kafka::ConsumerRecord& record : batch) {
    if (current == nullptr || record.partition != current_number) {
      current = Find(record.partition);
      current_number = record.partition;
    }
    if (current == nullptr || record.topic != options_.topic) {
      ++dropped;
      continue;
    }
    if (record.offset < current->next_offset) Restart(current);
    // A value starting with '{' is JSON whatever the headers say; only look them up
    // otherwise (header parsing is the costlier part).
    bool json_hint = false;
    if (record.value.empty() || record.value.front() != '{') {
      std::optional<std::string_view> type = record.Header("content-type");
      json_hint = type.has_value() && type->starts_with("application/json");
    }
    absl::Status status =
        codec_.Decode(record.value, core::Encoding::kAuto, now_ms, &event_, json_hint);
    if (status.ok()) {
      ++outcomes[static_cast<int>(current->aggregator->Apply(event_, now_ms))];
    } else {
      current->aggregator->RecordInvalid();
      ++invalid;
      DeadLetter(record, status);
    }
    current->next_offset = record.offset + 1;
    current->last_record_ms = record.timestamp_ms;
  }
  static_assert(static_cast<int>(core::Outcome::kApplied) == 0 &&
                static_cast<int>(core::Outcome::kDuplicate) == 1 &&
                static_cast<int>(core::Outcome::kLate) == 2);
  if (outcomes[0] > 0) metrics_->applied.Increment(static_cast<double>(outcomes[0]));
  if (outcomes[1] > 0) metrics_->duplicate.Increment(static_cast<double>(outcomes[1]));
  if (outcomes[2] > 0) metrics_->late.Increment(static_cast<double>(outcomes[2]));
  if (invalid > 0) metrics_->invalid.Increment(static_cast<double>(invalid));
  if (dropped > 0) metrics_->dropped_records.Increment(static_cast<double>(dropped));
}

void OwnedPartitions::DeadLetter(const kafka::ConsumerRecord& record,
                                 const absl::Status& status) {
  core::Rejection rejection = core::RejectionOf(status);
  kafka::ProducerRecord out;
  out.topic = options_.dlq_topic;
  out.key = record.key;
  out.value = record.value;
  out.headers.emplace_back("error", std::move(rejection.reason));
  out.headers.emplace_back("error-detail", std::move(rejection.detail));
  if (std::optional<std::string_view> type = record.Header("content-type")) {
    out.headers.emplace_back("content-type", std::string(*type));
  }
  if (absl::Status s = producer_->Produce(out); !s.ok()) {
    if (produce_error_.ok()) produce_error_ = s;
    return;
  }
  metrics_->dlq_records.Increment();
}

absl::Status OwnedPartitions::ProduceRecord(const std::string& key) {
  record_.SerializeToString(&value_);
  absl::Status status = producer_->Produce(
      {.topic = options_.aggregates_topic, .key = key, .value = value_});
  if (status.ok()) metrics_->published_records.Increment();
  return status;
}

absl::StatusOr<std::vector<kafka::TopicPartition>> OwnedPartitions::Publish(
    const std::vector<int32_t>* selection, bool all_cells, int64_t now_ms) {
  std::vector<Partition*> chosen;
  if (selection == nullptr) {
    for (const auto& [number, partition] : partitions_) chosen.push_back(partition.get());
  } else {
    for (int32_t number : *selection) {
      if (Partition* p = Find(number)) chosen.push_back(p);
    }
  }
  absl::Status status = std::move(produce_error_);
  produce_error_ = absl::OkStatus();
  // Progress sent per partition in this call: {partition, source offset, watermark}.
  struct Sent {
    Partition* partition;
    int64_t offset;
    int64_t watermark;
  };
  std::vector<Sent> sent;
  for (Partition* p : chosen) {
    if (p->next_offset < 0) continue;  // nothing consumed since assignment: nothing to say
    p->aggregator->Tick(now_ms);
    const bool all = all_cells || p->full_publish_pending;
    cells_.clear();
    p->aggregator->TakeCells(&cells_, all);
    record_.Clear();
    record_.set_source_topic(options_.topic);
    record_.set_source_partition(p->number);
    record_.set_source_offset(p->next_offset);
    record_.set_producer(options_.instance_id);
    record_.set_produced_unix_ms(now_ms);
    for (v1::Cell& cell : cells_) {
      record_.mutable_cell()->Swap(&cell);
      key_ = CellKey(record_.cell());
      if (absl::Status s = ProduceRecord(key_); !s.ok() && status.ok()) status = s;
    }
    const int64_t watermark = p->aggregator->watermark_ms();
    if (all || !cells_.empty() || p->next_offset != p->published_offset ||
        watermark != p->published_watermark) {
      p->aggregator->FillProgress(record_.mutable_progress());
      key_ = ProgressKey(options_.topic, p->number);
      if (absl::Status s = ProduceRecord(key_); !s.ok() && status.ok()) status = s;
    }
    sent.push_back({p, p->next_offset, watermark});
  }
  // Wait for every queued record (dead letters of any partition included).
  if (absl::Status s = producer_->Flush(options_.flush_timeout); !s.ok() && status.ok()) {
    status = s;
  }
  if (!status.ok()) {
    for (const Sent& s : sent) s.partition->full_publish_pending = true;
    return status;
  }
  std::vector<kafka::TopicPartition> offsets;
  for (const Sent& s : sent) {
    s.partition->full_publish_pending = false;
    s.partition->published_offset = s.offset;
    s.partition->published_watermark = s.watermark;
    if (s.offset > s.partition->committed_offset) {
      offsets.push_back({options_.topic, s.partition->number, s.offset});
    }
  }
  return offsets;
}

void OwnedPartitions::MarkCommitted(const std::vector<kafka::TopicPartition>& offsets) {
  for (const kafka::TopicPartition& tp : offsets) {
    if (Partition* p = Find(tp.partition)) {
      p->committed_offset = std::max(p->committed_offset, tp.offset);
    }
  }
}

void OwnedPartitions::UpdateHealthMetrics(
    int64_t now_ms, const std::function<absl::StatusOr<int64_t>(int32_t)>& high_watermark) {
  int64_t min_watermark = std::numeric_limits<int64_t>::max();
  bool kafka_answers = true;
  for (const auto& [number, p] : partitions_) {
    const int64_t watermark = p->aggregator->watermark_ms();
    if (watermark > 0) min_watermark = std::min(min_watermark, watermark);
    if (!kafka_answers) continue;
    absl::StatusOr<int64_t> high = high_watermark(number);
    if (!high.ok()) {
      // Keep the last values; with Kafka away, do not wait once per partition.
      kafka_answers = false;
      continue;
    }
    const int64_t position = std::max<int64_t>(p->next_offset, 0);
    const int64_t lag = std::max<int64_t>(*high - position, 0);
    double seconds = 0;
    if (lag > 0) {
      // The oldest unconsumed record is at most as old as the last consumed one; before the
      // first record, the time since assignment is a lower bound.
      const int64_t since = p->next_offset >= 0 ? p->last_record_ms : p->assigned_at_ms;
      seconds = std::max<double>(0, static_cast<double>(now_ms - since) / 1000.0);
    }
    p->lag.Set(static_cast<double>(lag), seconds);
  }
  metrics_->watermark_delay_seconds.Set(
      min_watermark == std::numeric_limits<int64_t>::max()
          ? 0
          : std::max<double>(0, static_cast<double>(now_ms - min_watermark) / 1000.0));
  metrics_->assigned_partitions.Set(static_cast<double>(partitions_.size()));
}

}  // namespace civicpulse::aggregator
