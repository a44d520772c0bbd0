// HashTimeTable: a map from 64-bit hashes (already well mixed: participant or event-id
// hashes) to a time in ms, as compact as a hash table can be: 12 bytes a slot, open
// addressing with linear probing, at most 80% full, growing by half (so a growing table is
// at least 53% full). The capacity need not be a power of two, so a table with a size bound
// (`max_size`) never holds more than that bound needs: the event-id filter's 2M ids take
// 30 MB where a power-of-two table that crossed its 7/8 load doubles to 4M slots (71 MB
// with absl::flat_hash_map's 17-byte slots).
//
// A slot keeps 56 bits of its key and 40 bits of its time:
// - Keys equal in their low 56 bits are one key (for n random keys, a pair of them with
//   probability about n^2 / 2^57: 3e-5 for 2 million). ForEach hands out those 56 bits, and
//   every method takes a full key and uses only them, so a key read back means the same.
// - A time is held as its distance in ms above a floor, in a span of 2^40 ms (about 34.8
//   years) of which at least 30.5 lie below the largest time held so far. A time below the
//   floor is held as the floor (read back as the floor itself: "at or before it"); a time
//   above the top moves the floor up (a walk over the table, once per 4.4 years of event
//   time at most). So a read is exact unless the time is more than 30 years older than the
//   newest (it then reads as the floor), and an owner's question ("older than t - horizon?",
//   "within a horizon of t?") is answered exactly while t and its horizon stay within 30
//   years of the newest time.
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
#include <optional>
#include <utility>

#include "civicpulse/core/mix64.h"
#include "civicpulse/core/prefetch.h"

namespace civicpulse::core {

class HashTimeTable {
 private:
  struct Slot;

 public:
  // The time stored for one key, read and written through the table (valid until the next
  // insertion or erasure).
  class Value {
   public:
    int64_t get() const { return slot_ == nullptr ? table_->zero_value_ : table_->TimeOf(*slot_); }
    // Also notes a value lower than any held, for EraseBelow.
    void set(int64_t value) {
      table_->least_ = std::min(table_->least_, value);
      if (slot_ == nullptr) {
        table_->zero_value_ = value;
      } else {
        table_->Store(slot_, value);
      }
    }

   private:
    friend class HashTimeTable;
    Value(HashTimeTable* table, Slot* slot) : table_(table), slot_(slot) {}
    HashTimeTable* table_;
    Slot* slot_;  // null: key 0's entry
  };

  // `max_size`: the most entries the owner ever keeps (it erases before going above); the
  // capacity stops growing at what that needs.
  explicit HashTimeTable(size_t max_size = std::numeric_limits<size_t>::max() / 32)
      : max_capacity_(CapacityFor(max_size)), salt_(NewSalt()) {}
  HashTimeTable(const HashTimeTable&) = delete;
  HashTimeTable& operator=(const HashTimeTable&) = delete;

  size_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  size_t capacity() const { return capacity_; }
  size_t MemoryBytes() const { return capacity_ * sizeof(Slot); }

  // Inserts (key, value) if the key is absent. Returns the value stored for the key and
  // whether it was inserted.
  std::pair<Value, bool> TryEmplace(uint64_t key, int64_t value) {
    key &= kKeyMask;
    if (key == kEmpty) {
      const bool inserted = !has_zero_;
      if (inserted) {
        zero_value_ = value;
        least_ = std::min(least_, value);
      }
      has_zero_ = true;
      return {Value(this, nullptr), inserted};
    }
    if ((size_ + 1) * 5 > capacity_ * 4) Grow();
    for (size_t i = Home(key);; i = Next(i), ++probes_) {
      Slot& slot = slots_[i];
      const uint64_t held = slot.key();
      if (held == key) return {Value(this, &slot), false};
      if (held == kEmpty) {
        slot.lo = key;
        Store(&slot, value);
        ++size_;
        least_ = std::min(least_, value);
        return {Value(this, &slot), true};
      }
    }
  }

  // Slots TryEmplace looked at beyond each key's own, in all: how clustered the table is.
  uint64_t probes() const { return probes_; }

  // Starts loading the slot where `key` would be (a hint; no effect on the contents), so that
  // a caller can overlap this table's cache miss with other work.
  void Prefetch(uint64_t key) const {
    if (capacity_ != 0) PrefetchForRead(&slots_[Home(key & kKeyMask)]);
  }

  // The value stored for `key`, if any.
  std::optional<int64_t> Find(uint64_t key) const {
    key &= kKeyMask;
    if (key == kEmpty) return has_zero_ ? std::optional<int64_t>(zero_value_) : std::nullopt;
    if (capacity_ == 0) return std::nullopt;
    for (size_t i = Home(key);; i = Next(i)) {
      const Slot& slot = slots_[i];
      if (slot.key() == key) return TimeOf(slot);
      if (slot.key() == kEmpty) return std::nullopt;
    }
  }

  // Erases every entry for which pred(key, value) is true. pred may be called more than once
  // for an entry it keeps (entries move while others are erased), never after erasing one.
  template <typename Pred>
  void EraseIf(Pred pred) {
    if (has_zero_ && pred(kEmpty, zero_value_)) has_zero_ = false;
    for (size_t i = 0; i < capacity_;) {
      if (slots_[i].key() != kEmpty && pred(slots_[i].key(), TimeOf(slots_[i]))) {
        EraseAt(i);  // i now holds the next candidate (or nothing): look at it again
      } else {
        ++i;
      }
    }
  }

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
  // Calls f(key, value) for every entry (keys as held: their low 56 bits).
  template <typename F>
  void ForEach(F f) const {
    if (has_zero_) f(kEmpty, zero_value_);
    for (size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].key() != kEmpty) f(slots_[i].key(), TimeOf(slots_[i]));
    }
  }

 private:
  // 56 bits of key in `lo`, the time's distance above floor_ in the top 8 bits of `lo` and
  // the 32 of `hi`. Packed: 12 bytes, read unaligned (x86 and ARMv8 do so at full speed).
  struct __attribute__((packed)) Slot {
    uint64_t lo;
    uint32_t hi;
    uint64_t key() const { return lo & kKeyMask; }
    uint64_t offset() const { return lo >> 56 | uint64_t{hi} << 8; }
    void set_offset(uint64_t offset) {
      lo = (lo & kKeyMask) | offset << 56;
      hi = static_cast<uint32_t>(offset >> 8);
    }
  };
  static_assert(sizeof(Slot) == 12);
  static constexpr uint64_t kKeyMask = (uint64_t{1} << 56) - 1;
  static constexpr uint64_t kEmpty = 0;  // key 0 itself lives in zero_value_
  static constexpr uint64_t kMaxOffset = (uint64_t{1} << 40) - 1;
  // How far below a new largest time the floor goes: all but 2^37 ms (4.4 years) of the span.
  static constexpr int64_t kBelow = static_cast<int64_t>(kMaxOffset) - (int64_t{1} << 37);

  static size_t CapacityFor(size_t entries) { return entries + entries / 4 + 16; }

  // Different in every table and every process (the clock at the first table, then a count).
  static uint64_t NewSalt() {
    static std::atomic<uint64_t> next{
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
    return Fmix64(next.fetch_add(1, std::memory_order_relaxed));
  }

  // a - b, or the nearest int64 when that overflows.
  static int64_t SaturatingSub(int64_t a, int64_t b) {
    int64_t d;
    if (!__builtin_sub_overflow(a, b, &d)) return d;
    return b < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }

  int64_t TimeOf(const Slot& slot) const { return floor_ + static_cast<int64_t>(slot.offset()); }

  // Writes `value` into a slot: as its distance above the floor, moving the floor up first
  // when the value is above the top, and as the floor itself when below it.
  void Store(Slot* slot, int64_t value) {
    if (!anchored_) {
      anchored_ = true;
      floor_ = SaturatingSub(value, kBelow);
    }
    int64_t above = SaturatingSub(value, floor_);
    if (above > static_cast<int64_t>(kMaxOffset)) {
      RaiseFloor(SaturatingSub(value, kBelow));
      above = SaturatingSub(value, floor_);
    }
    slot->set_offset(above <= 0 ? 0 : static_cast<uint64_t>(above));
  }

  // Moves the floor up to `floor`: every time held keeps its value, or becomes the new floor
  // when it was below it.
  void RaiseFloor(int64_t floor) {
    // floor > floor_; their difference may not fit an int64 (a floor at int64's minimum).
    const uint64_t by = static_cast<uint64_t>(floor) - static_cast<uint64_t>(floor_);
    for (size_t i = 0; i < capacity_; ++i) {
      Slot& slot = slots_[i];
      if (slot.key() == kEmpty) continue;
      const uint64_t offset = slot.offset();
      slot.set_offset(offset > by ? offset - by : 0);
    }
    floor_ = floor;
  }

  // The key mixed with this table's salt (so tables with different salts order the same
  // keys unrelatedly) and multiply-shifted onto [0, capacity): any capacity.
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
      if (old[i].key() == kEmpty) continue;
      size_t j = Home(old[i].key());
      while (slots_[j].key() != kEmpty) j = Next(j);
      slots_[j] = old[i];
    }
  }

  // Backward-shift deletion: moves each following entry of the run into the hole unless its
  // home lies cyclically in (hole, its slot], where it would no longer be found.
  void EraseAt(size_t i) {
    size_t hole = i;
    for (size_t j = Next(i); slots_[j].key() != kEmpty; j = Next(j)) {
      const size_t home = Home(slots_[j].key());
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!stays) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

  size_t max_capacity_;
  uint64_t salt_;
  uint64_t probes_ = 0;
  std::unique_ptr<Slot[]> slots_;
  size_t capacity_ = 0;
  size_t size_ = 0;  // entries in slots_
  bool has_zero_ = false;
  // Times in slots are held above floor_ (set by the first time stored: anchored_).
  bool anchored_ = false;
  int64_t floor_ = 0;
  // At most the least value held (exact after EraseBelow walks; erasures only raise the
  // least, so it stays a bound): lowered by insertions and Value::set.
  int64_t least_ = std::numeric_limits<int64_t>::max();
  int64_t zero_value_ = 0;
};

}  // namespace civicpulse::core
