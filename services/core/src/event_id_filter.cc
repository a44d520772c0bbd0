#include "civicpulse/core/event_id_filter.h"

#include <algorithm>
#include <vector>

#include "civicpulse/core/participant_sketch.h"

namespace civicpulse::core {
namespace {
constexpr int64_t kSweepEveryMs = 60 * 60 * 1000;
// Salted so that an event id and a participant with the same text hash differently.
constexpr uint64_t kIdSalt = 0x5bd1e9955bd1e995ULL;
}  // namespace

EventIdFilter::EventIdFilter(int64_t horizon_ms, size_t max_entries)
    : horizon_ms_(horizon_ms),
      max_entries_(std::max<size_t>(max_entries, 16)),
      seen_(max_entries_ + 1) {}  // one over: an insertion precedes its eviction

uint64_t EventIdFilter::Key(std::string_view event_id) {
  return HashParticipant(event_id) ^ kIdSalt;
}

bool EventIdFilter::SeenBefore(uint64_t key, int64_t time_ms) {
  auto [seen, inserted] = seen_.TryEmplace(key, time_ms);
  if (inserted) {
    if (journal_on_) journal_.emplace_back(key, time_ms);
    if (seen_.size() > max_entries_) EvictOldest();
    return false;
  }
  const int64_t seen_time = seen.get();
  const int64_t distance = time_ms >= seen_time ? time_ms - seen_time : seen_time - time_ms;
  if (distance <= horizon_ms_) return true;
  // The earlier sighting is older than the horizon: a new event that reuses the id.
  seen.set(time_ms);
  if (journal_on_) journal_.emplace_back(key, time_ms);
  return false;
}

void EventIdFilter::TakeJournal(std::vector<std::pair<uint64_t, int64_t>>* out) {
  out->insert(out->end(), journal_.begin(), journal_.end());
  journal_.clear();
  // A replay burst can leave a large, now idle journal behind.
  if (journal_.capacity() > 65536) std::vector<std::pair<uint64_t, int64_t>>().swap(journal_);
}

void EventIdFilter::Restore(uint64_t hash, int64_t time_ms) {
  seen_.TryEmplace(hash, time_ms).first.set(time_ms);
  if (seen_.size() > max_entries_) EvictOldest();
}

void EventIdFilter::Expire(int64_t oldest_time_ms) {
  const int64_t cutoff = oldest_time_ms - horizon_ms_;
  if (cutoff - swept_cutoff_ms_ < kSweepEveryMs) return;
  swept_cutoff_ms_ = cutoff;
  Sweep(cutoff);
}

void EventIdFilter::Sweep(int64_t cutoff_ms) { seen_.EraseBelow(cutoff_ms); }

void EventIdFilter::EvictOldest() {
  std::vector<int64_t> times;
  times.reserve(seen_.size());
  seen_.ForEach([&times](uint64_t, int64_t time) { times.push_back(time); });
  auto quarter = times.begin() + times.size() / 4;
  std::nth_element(times.begin(), quarter, times.end());
  const int64_t cutoff = *quarter;
  const size_t before = seen_.size();
  Sweep(cutoff);
  if (seen_.size() == before) {  // all at one time: drop arbitrary entries instead
    size_t drop = before / 4;
    seen_.EraseIf([&drop](uint64_t, int64_t) { return drop > 0 && drop-- > 0; });
  }
  evicted_ += before - seen_.size();
}

size_t EventIdFilter::MemoryBytes() const {
  return sizeof(*this) + seen_.MemoryBytes();
}

}  // namespace civicpulse::core
