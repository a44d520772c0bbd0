#include "record_router.h"

#include <optional>

namespace civicpulse::aggregator {

void RecordRouter::Route(const std::vector<kafka::ConsumerRecord>& batch, int64_t now_ms) {
  uint64_t outcomes[3] = {0, 0, 0};
  uint64_t invalid = 0;
  uint64_t dropped = 0;
  uint64_t skipped = 0;
  // Dedup evictions happen inside Apply: counted as the difference over each run of one
  // partition's records.
  uint64_t evicted = 0;
  uint64_t evicted_before = 0;
  OwnedPartition* current = nullptr;
  int32_t current_number = -1;
  auto leave_partition = [&] {
    if (current != nullptr) {
      evicted += current->engine->outcome_counts().dedup_evicted - evicted_before;
    }
  };
  for (const kafka::ConsumerRecord& record : batch) {
    if (current == nullptr || record.partition != current_number) {
      leave_partition();
      current = owned_->Find(record.partition);
      current_number = record.partition;
      if (current != nullptr) evicted_before = current->engine->outcome_counts().dedup_evicted;
    }
    if (current == nullptr || record.topic != owned_->topic() ||
        record.offset < current->next_offset) {
      ++dropped;
      continue;
    }
    if (current->next_offset >= 0 && record.offset > current->next_offset) {
      skipped += static_cast<uint64_t>(record.offset - current->next_offset);
    }
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
      ++outcomes[static_cast<int>(current->engine->Apply(event_, now_ms))];
    } else {
      current->engine->RecordInvalid();
      ++invalid;
      dead_letters_->Add(record, status);
    }
    current->next_offset = record.offset + 1;
    current->last_record_ms = record.timestamp_ms;
  }
  leave_partition();
  static_assert(static_cast<int>(core::Outcome::kApplied) == 0 &&
                static_cast<int>(core::Outcome::kDuplicate) == 1 &&
                static_cast<int>(core::Outcome::kLate) == 2);
  metrics_->outcomes->Add(core::Outcome::kApplied, outcomes[0]);
  metrics_->outcomes->Add(core::Outcome::kDuplicate, outcomes[1]);
  metrics_->outcomes->Add(core::Outcome::kLate, outcomes[2]);
  metrics_->outcomes->AddInvalid(invalid);
  metrics_->outcomes->AddDedupEvicted(evicted);
  if (dropped > 0) metrics_->dropped_records.Increment(static_cast<double>(dropped));
  if (skipped > 0) metrics_->skipped_offsets.Increment(static_cast<double>(skipped));
}

}  // namespace civicpulse::aggregator
