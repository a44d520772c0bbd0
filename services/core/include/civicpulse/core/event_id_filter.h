// EventIdFilter: remembers the event ids one partition has applied, so that the same
// event_id within `horizon` of event time is applied once.
//
// Exact up to hash collisions: ids are kept as stable hashes (56 bits of them, in a
// HashTimeTable) with the event time of their first sighting, so a false "duplicate" needs
// two distinct ids whose hashes agree in those bits (probability about n^2 / 2^57 for n ids
// held at once: 3e-5 for 2 million, 1e-9 for a partition's typical 12,000). Memory is
// bounded by `max_entries` (15 bytes each: 12-byte slots, 80% full at the bound): past
// that, the oldest quarter (by event time) is forgotten, so a duplicate of a forgotten id
// would be applied again; `evicted()` counts such forced evictions. Ids whose time fell out
// of the horizon are dropped by Expire.
//
// Thread-compatible. Does no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "civicpulse/core/hash_time_table.h"

namespace civicpulse::core {

class EventIdFilter {
 public:
  EventIdFilter(int64_t horizon_ms, size_t max_entries);

  // True if `event_id` was seen before with an event time within the horizon of `time_ms`;
  // otherwise remembers it (at `time_ms`) and returns false.
  bool SeenBefore(std::string_view event_id, int64_t time_ms) {
    return SeenBefore(Key(event_id), time_ms);
  }
  // The same, by the id's key (Key()).
  bool SeenBefore(uint64_t key, int64_t time_ms);
  // The key an id is remembered by; Prefetch(key) starts loading where it would be, so that
  // a caller can overlap that cache miss with other work before SeenBefore(key, ...).
  static uint64_t Key(std::string_view event_id);
  void Prefetch(uint64_t key) const { seen_.Prefetch(key); }
  // Forgets ids that no event at or after `oldest_time_ms` can duplicate, i.e. seen before
  // `oldest_time_ms - horizon`. Cheap to call often: it sweeps at most once per
  // hour of progress.
  void Expire(int64_t oldest_time_ms);

  size_t size() const { return seen_.size(); }
  uint64_t evicted() const { return evicted_; }
  size_t MemoryBytes() const;

  // --- Checkpoints ---------------------------------------------------------------------
  // While on, every id remembered (or re-timed) is also journaled for TakeJournal.
  void set_journal(bool on) { journal_on_ = on; }
  // Moves the journaled (hash, time) pairs into `out` (appending) and clears the journal.
  void TakeJournal(std::vector<std::pair<uint64_t, int64_t>>* out);
  void ClearJournal() { journal_.clear(); }
  // Calls f(hash, time) for every id remembered.
  template <typename F>
  void ForEach(F f) const {
    seen_.ForEach(f);
  }
  // Remembers `hash` at `time_ms` (restoring a checkpoint); not journaled.
  void Restore(uint64_t hash, int64_t time_ms);
  void set_evicted(uint64_t evicted) { evicted_ = evicted; }

 private:
  void Sweep(int64_t cutoff_ms);
  void EvictOldest();

  int64_t horizon_ms_;
  size_t max_entries_;
  int64_t swept_cutoff_ms_ = 0;
  uint64_t evicted_ = 0;
  HashTimeTable seen_;  // id hash -> event time of first sighting
  bool journal_on_ = false;
  std::vector<std::pair<uint64_t, int64_t>> journal_;
};

}  // namespace civicpulse::core
