// HashTimeTable: a map from 64-bit hashes (already well mixed: participant or event-id
// hashes) to a time in ms, as compact as a hash table can be: 16 bytes a slot, open
// addressing with linear probing, at most 80% full, growing by half (so a growing table is
// at least 53% full). The capacity need not be a power of two, so a table with a size bound
// (`max_size`) never holds more than that bound needs: the event-id filter's 2M ids take
// 40 MB where a power-of-two table that crossed its 7/8 load doubles to 4M slots (71 MB
// with absl::flat_hash_map's 17-byte slots).
// Erasing shifts the following entries back (no tombstones), so lookups stay short after
// many erasures. Each table places keys with its own salt: a table filled in another's
// iteration order (a restore reads a snapshot written that way) would otherwise receive its
// keys sorted by where they land, and linear probing piles such keys into one run that every
// insertion walks to its end (300,000 keys took 6.4 s, a week's state did not finish).
//
// Thread-compatible. Does no I/O.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>

#include "civicpulse/core/mix64.h"

namespace civicpulse::core {

class HashTimeTable {
 public:
  // `max_size`: the most entries the owner ever keeps (it erases before going above); the
  // capacity stops growing at what that needs.
  explicit HashTimeTable(size_t max_size = std::numeric_limits<size_t>::max() / 32)
      : max_capacity_(CapacityFor(max_size)), salt_(NewSalt()) {}
  HashTimeTable(const HashTimeTable&) = delete;
  HashTimeTable& operator=(const HashTimeTable&) = delete;

  size_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  size_t capacity() const { return capacity_; }
  size_t MemoryBytes() const { return capacity_ * sizeof(Slot); }

  // Inserts (key, value) if the key is absent. Returns the value stored for the key (valid
  // until the next insertion or erasure) and whether it was inserted. A caller that writes a
  // lower value through the pointer says so with Lowered().
  std::pair<int64_t*, bool> TryEmplace(uint64_t key, int64_t value) {
    if (key == kEmpty) {
      const bool inserted = !has_zero_;
      if (inserted) {
        zero_value_ = value;
        least_ = std::min(least_, value);
      }
      has_zero_ = true;
      return {&zero_value_, inserted};
    }
    if ((size_ + 1) * 5 > capacity_ * 4) Grow();
    for (size_t i = Home(key);; i = Next(i), ++probes_) {
      Slot& slot = slots_[i];
      if (slot.key == key) return {&slot.value, false};
      if (slot.key == kEmpty) {
        slot = {key, value};
        ++size_;
        least_ = std::min(least_, value);
        return {&slot.value, true};
      }
    }
  }

  // Slots TryEmplace looked at beyond each key's own, in all: how clustered the table is.
  uint64_t probes() const { return probes_; }

  // Starts loading the slot where `key` would be (a hint; no effect on the contents), so that
  // a caller can overlap this table's cache miss with other work.
  void Prefetch(uint64_t key) const {
    if (capacity_ != 0) __builtin_prefetch(&slots_[Home(key)]);
  }

  // The value stored for `key`, or null.
  const int64_t* Find(uint64_t key) const {
    if (key == kEmpty) return has_zero_ ? &zero_value_ : nullptr;
    if (capacity_ == 0) return nullptr;
    for (size_t i = Home(key);; i = Next(i)) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.value;
      if (slot.key == kEmpty) return nullptr;
    }
  }

  // Erases every entry for which pred(key, value) is true. pred may be called more than once
  // for an entry it keeps (entries move while others are erased), never after erasing one.
  template <typename Pred>
  void EraseIf(Pred pred) {
    if (has_zero_ && pred(kEmpty, zero_value_)) has_zero_ = false;
    for (size_t i = 0; i < capacity_;) {
      if (slots_[i].key != kEmpty && pred(slots_[i].key, slots_[i].value)) {
        EraseAt(i);  // i now holds the next candidate (or nothing): look at it again
      } else {
        ++i;
      }
    }
  }

  // Notes that a value written through TryEmplace's pointer may be lower than any held.
  void Lowered(int64_t value) { least_ = std::min(least_, value); }
  // Erases every entry whose value is below `limit`. Walks the table only when some value
  // may be below it (the owners sweep old times hourly, and with a horizon longer than the
  // history held a walk would erase nothing: a day's or a week's replay walked both of the
  // aggregator's tables every hour of event time for nothing).
  void EraseBelow(int64_t limit) {
    if (limit <= least_) return;
    int64_t least = std::numeric_limits<int64_t>::max();
    EraseIf([limit, &least](uint64_t, int64_t value) {
      if (value < limit) return true;
      least = std::min(least, value);
      return false;
    });
    least_ = least;
  }
  // Calls f(key, value) for every entry.
  template <typename F>
  void ForEach(F f) const {
    if (has_zero_) f(kEmpty, zero_value_);
    for (size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].key != kEmpty) f(slots_[i].key, slots_[i].value);
    }
  }

 private:
  struct Slot {
    uint64_t key;
    int64_t value;
  };
  static constexpr uint64_t kEmpty = 0;  // key 0 itself lives in zero_value_

  static size_t CapacityFor(size_t entries) { return entries + entries / 4 + 16; }

  // Different in every table and every process (the clock at the first table, then a count).
  static uint64_t NewSalt() {
    static std::atomic<uint64_t> next{
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
    return Fmix64(next.fetch_add(1, std::memory_order_relaxed));
  }

  // The salted key, mixed (so tables with different salts order the same keys unrelatedly)
  // and multiply-shifted onto [0, capacity): any capacity.
  size_t Home(uint64_t key) const {
    const uint64_t mixed = Fmix64(key ^ salt_);
    return static_cast<size_t>((static_cast<unsigned __int128>(mixed) * capacity_) >> 64);
  }
  size_t Next(size_t i) const { return i + 1 == capacity_ ? 0 : i + 1; }

  // By half, not double: a table stays at least 53% full (80% / 1.5), where doubling left
  // the aggregator's per-partition tables 46% full on average (issue 8's week: 210 MB of
  // the 366 MB of state were these tables' slots). Rehashing costs two moves per entry
  // instead of one, over the table's life.
  void Grow() {
    size_t capacity = capacity_ == 0 ? 16 : capacity_ + capacity_ / 2;
    if (capacity > max_capacity_) capacity = max_capacity_;
    if (capacity <= capacity_ || (size_ + 1) * 5 > capacity * 4) {
      // Past the bound (an owner that keeps more): keep going.
      capacity = capacity_ + capacity_ / 2 + 16;
    }
    std::unique_ptr<Slot[]> old = std::move(slots_);
    const size_t old_capacity = capacity_;
    slots_ = std::make_unique<Slot[]>(capacity);  // zeroed: every slot empty
    capacity_ = capacity;
    for (size_t i = 0; i < old_capacity; ++i) {
      if (old[i].key == kEmpty) continue;
      size_t j = Home(old[i].key);
      while (slots_[j].key != kEmpty) j = Next(j);
      slots_[j] = old[i];
    }
  }

  // Backward-shift deletion: moves each following entry of the run into the hole unless its
  // home lies cyclically in (hole, its slot], where it would no longer be found.
  void EraseAt(size_t i) {
    size_t hole = i;
    for (size_t j = Next(i); slots_[j].key != kEmpty; j = Next(j)) {
      const size_t home = Home(slots_[j].key);
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!stays) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole].key = kEmpty;
    --size_;
  }

  size_t max_capacity_;
  uint64_t salt_;
  uint64_t probes_ = 0;
  std::unique_ptr<Slot[]> slots_;
  size_t capacity_ = 0;
  size_t size_ = 0;  // entries in slots_
  bool has_zero_ = false;
  // At most the least value held (exact after EraseBelow walks; erasures only raise the
  // least, so it stays a bound): lowered by insertions and Lowered().
  int64_t least_ = std::numeric_limits<int64_t>::max();
  int64_t zero_value_ = 0;
};

}  // namespace civicpulse::core
