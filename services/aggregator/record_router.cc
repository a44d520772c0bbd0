#include "record_router.h"

#include <algorithm>
#include <optional>
#include <string_view>

namespace civicpulse::aggregator {
namespace {

// A value starting with '{' is JSON whatever the headers say; otherwise a
// `content-type: application/json` header says so (headers are parsed only then: that is the
// costlier part).
absl::Status DecodeRecord(core::EventCodec& codec, const kafka::ConsumerRecord& record,
                          int64_t now_ms, core::Event* event) {
  bool json_hint = false;
  if (record.value.empty() || record.value.front() != '{') {
    std::optional<std::string_view> type = record.Header("content-type");
    json_hint = type.has_value() && type->starts_with("application/json");
  }
  return codec.Decode(record.value, core::Encoding::kAuto, now_ms, event, json_hint);
}

}  // namespace

RecordRouter::RecordRouter(OwnedPartitions* owned, DeadLetterQueue* dead_letters,
                           AggregatorMetrics* metrics, int threads)
    : owned_(owned), dead_letters_(dead_letters), metrics_(metrics) {
  const size_t lanes = static_cast<size_t>(std::max(threads, 1));
  for (size_t i = 0; i < lanes; ++i) lanes_.push_back(std::make_unique<Lane>());
  for (size_t i = 1; i < lanes; ++i) helpers_.emplace_back([this, i] { Helper(i); });
}

RecordRouter::~RecordRouter() {
  if (helpers_.empty()) return;
  stopping_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void RecordRouter::Helper(size_t lane) {
  uint32_t seen = 0;
  for (;;) {
    generation_.wait(seen, std::memory_order_acquire);
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_acquire)) return;
    RunLane(*lanes_[lane]);
    on_helpers_.fetch_add(lanes_[lane]->items.size(), std::memory_order_relaxed);
    // Release: Route reads the lane's counts and engines' state after seeing zero.
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

size_t RecordRouter::Deal(const std::vector<kafka::ConsumerRecord>& batch) {
  for (auto& lane : lanes_) {
    lane->items.clear();
    lane->load = 0;
  }
  shares_.clear();
  // The batch's partitions, each with its record count (records come in runs of one
  // partition: one lookup per run).
  int32_t last = -1;
  size_t share = 0;
  for (const kafka::ConsumerRecord& record : batch) {
    if (shares_.empty() || record.partition != last) {
      last = record.partition;
      const size_t slot = ShareSlot(last);
      if (slot >= share_of_.size()) share_of_.resize(slot + 1, 0);
      if (share_of_[slot] == 0) {
        shares_.push_back({.partition = last, .owner = owned_->Find(last)});
        share_of_[slot] = static_cast<uint32_t>(shares_.size());
      }
      share = share_of_[slot] - 1;
    }
    ++shares_[share].records;
  }
  const size_t lanes = batch.size() < kMinParallel ? 1 : std::min(lanes_.size(), shares_.size());
  if (lanes > 1) {
    // Largest first, each to the lane with the fewest records so far.
    order_.resize(shares_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    std::sort(order_.begin(), order_.end(),
              [this](size_t a, size_t b) { return shares_[a].records > shares_[b].records; });
    for (size_t i : order_) {
      size_t least = 0;
      for (size_t l = 1; l < lanes; ++l) {
        if (lanes_[l]->load < lanes_[least]->load) least = l;
      }
      shares_[i].lane = least;
      lanes_[least]->load += shares_[i].records;
    }
  }
  last = -1;
  Share* current = nullptr;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (current == nullptr || batch[i].partition != last) {
      last = batch[i].partition;
      current = &shares_[share_of_[ShareSlot(last)] - 1];
    }
    lanes_[current->lane]->items.push_back({static_cast<uint32_t>(i), current->owner});
  }
  for (const Share& s : shares_) share_of_[ShareSlot(s.partition)] = 0;
  return lanes;
}

void RecordRouter::RunLane(Lane& lane) {
  const std::vector<kafka::ConsumerRecord>& batch = *batch_;
  const std::vector<Item>& items = lane.items;
  const size_t n = items.size();
  auto decode = [&](size_t j) {
    const Item& item = items[j];
    if (item.owner == nullptr) return;  // dropped unread
    core::Event& event = lane.events[j % kAhead];
    absl::Status& status = lane.statuses[j % kAhead];
    status = DecodeRecord(lane.codec, batch[item.index], now_ms_, &event);
    if (status.ok()) lane.prepared[j % kAhead] = item.owner->engine->Prepare(event);
  };
  for (size_t j = 0; j < std::min(kAhead, n); ++j) decode(j);
  Counts& counts = lane.counts;
  // Dedup evictions happen inside Apply: counted as the difference over each run of one
  // partition's records.
  OwnedPartition* current = nullptr;
  uint64_t evicted_before = 0;
  auto leave_partition = [&] {
    if (current != nullptr) {
      counts.dedup_evicted += current->engine->outcome_counts().dedup_evicted - evicted_before;
    }
  };
  for (size_t j = 0; j < n; ++j) {
    const Item& item = items[j];
    const kafka::ConsumerRecord& record = batch[item.index];
    if (item.owner != current) {
      leave_partition();
      current = item.owner;
      if (current != nullptr) evicted_before = current->engine->outcome_counts().dedup_evicted;
    }
    if (current == nullptr || record.topic != owned_->topic() ||
        record.offset < current->next_offset) {
      ++counts.dropped;
    } else {
      if (current->next_offset >= 0 && record.offset > current->next_offset) {
        counts.skipped += static_cast<uint64_t>(record.offset - current->next_offset);
      }
      absl::Status& status = lane.statuses[j % kAhead];
      if (status.ok()) {
        const core::Outcome outcome =
            current->engine->Apply(lane.events[j % kAhead], lane.prepared[j % kAhead], now_ms_);
        ++counts.outcomes[static_cast<int>(outcome)];
      } else {
        current->engine->RecordInvalid();
        ++counts.invalid;
        lane.invalid.emplace_back(item.index, std::move(status));
      }
      current->next_offset = record.offset + 1;
      current->last_record_ms = record.timestamp_ms;
    }
    if (j + kAhead < n) decode(j + kAhead);
  }
  leave_partition();
}

void RecordRouter::Route(const std::vector<kafka::ConsumerRecord>& batch, int64_t now_ms) {
  batch_ = &batch;
  now_ms_ = now_ms;
  const size_t lanes = Deal(batch);
  if (lanes > 1) {
    pending_.store(static_cast<uint32_t>(helpers_.size()), std::memory_order_relaxed);
    // Release: the helpers see batch_, now_ms_ and their items as dealt above.
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
  }
  RunLane(*lanes_[0]);
  if (lanes > 1) {
    for (uint32_t left = pending_.load(std::memory_order_acquire); left != 0;
         left = pending_.load(std::memory_order_acquire)) {
      pending_.wait(left, std::memory_order_acquire);  // spins briefly, then sleeps
    }
  }
  batch_ = nullptr;

  Counts total;
  invalid_.clear();
  for (auto& lane : lanes_) {
    const Counts& c = lane->counts;
    for (int k = 0; k < 3; ++k) total.outcomes[k] += c.outcomes[k];
    total.invalid += c.invalid;
    total.dropped += c.dropped;
    total.skipped += c.skipped;
    total.dedup_evicted += c.dedup_evicted;
    for (auto& entry : lane->invalid) invalid_.push_back(std::move(entry));
    // Emptied here, not when a lane starts: a helper that gets no batch (a short one stays on
    // the calling thread) must not report its last one again.
    lane->counts = {};
    lane->invalid.clear();
  }
  // Dead letters in the batch's order (each lane's are in order already).
  std::sort(invalid_.begin(), invalid_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [index, status] : invalid_) dead_letters_->Add(batch[index], status);

  static_assert(static_cast<int>(core::Outcome::kApplied) == 0 &&
                static_cast<int>(core::Outcome::kDuplicate) == 1 &&
                static_cast<int>(core::Outcome::kLate) == 2);
  metrics_->outcomes->Add(core::Outcome::kApplied, total.outcomes[0]);
  metrics_->outcomes->Add(core::Outcome::kDuplicate, total.outcomes[1]);
  metrics_->outcomes->Add(core::Outcome::kLate, total.outcomes[2]);
  metrics_->outcomes->AddInvalid(total.invalid);
  metrics_->outcomes->AddDedupEvicted(total.dedup_evicted);
  if (total.dropped > 0) metrics_->dropped_records.Increment(static_cast<double>(total.dropped));
  if (total.skipped > 0) metrics_->skipped_offsets.Increment(static_cast<double>(total.skipped));
}

}  // namespace civicpulse::aggregator
