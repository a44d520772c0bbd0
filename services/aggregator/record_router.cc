#include "record_router.h"

#include <algorithm>

#include "absl/cleanup/cleanup.h"

namespace civicpulse::aggregator {

void RecordRouter::PrefetchFor(const std::vector<kafka::ConsumerRecord>& batch, size_t i) {
  const RecordDecoder::Decoded& decoded = decoder_.Get(i);
  if (!decoded.status.ok()) return;
  const int32_t partition = batch[i].partition;
  if (partition != ahead_partition_) {
    OwnedPartition* owner = owned_->Find(partition);
    ahead_partition_ = partition;
    ahead_engine_ = owner != nullptr ? owner->engine.get() : nullptr;
  }
  if (ahead_engine_ != nullptr) ahead_engine_->Prefetch(decoded.event);
}

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
  // The assignment may have changed since the last batch (engines replaced on restore).
  ahead_partition_ = -1;
  ahead_engine_ = nullptr;
  decoder_.Start(batch, now_ms);
  absl::Cleanup finish = [this] { decoder_.Finish(); };
  for (size_t i = 0; i < std::min(kAhead, batch.size()); ++i) PrefetchFor(batch, i);
  auto route = [&](size_t i) {
    const kafka::ConsumerRecord& record = batch[i];
    if (current == nullptr || record.partition != current_number) {
      leave_partition();
      current = owned_->Find(record.partition);
      current_number = record.partition;
      if (current != nullptr) evicted_before = current->engine->outcome_counts().dedup_evicted;
    }
    if (current == nullptr || record.topic != owned_->topic() ||
        record.offset < current->next_offset) {
      ++dropped;
      return;
    }
    if (current->next_offset >= 0 && record.offset > current->next_offset) {
      skipped += static_cast<uint64_t>(record.offset - current->next_offset);
    }
    const RecordDecoder::Decoded& decoded = decoder_.Get(i);
    if (decoded.status.ok()) {
      ++outcomes[static_cast<int>(current->engine->Apply(decoded.event, now_ms))];
    } else {
      current->engine->RecordInvalid();
      ++invalid;
      dead_letters_->Add(record, decoded.status);
    }
    current->next_offset = record.offset + 1;
    current->last_record_ms = record.timestamp_ms;
  };
  for (size_t i = 0; i < batch.size(); ++i) {
    route(i);
    if (i + kAhead < batch.size()) PrefetchFor(batch, i + kAhead);
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
