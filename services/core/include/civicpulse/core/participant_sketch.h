// ParticipantSketch: a mergeable distinct-count sketch of participants that also answers
// the concentration question ("share of events by the most active tenth").
//
// Exact mode keeps each participant's 64-bit hash with its event count, up to kExactLimit
// distinct participants (so counts below 1000 are exact), in the smallest of four forms:
// nothing while empty; one participant inside the object itself (no allocation: most
// 1-minute cells and age bands of a city hold one person); a sorted array of hashes with
// 16-bit counts (10 bytes a person, one allocation) for up to kArrayLimit people (binary
// search; the 1-hour cells of a week hold a few dozen each, of a dense day a few hundred);
// then a hash map (16 bytes a slot, up to 7/8 full). Beyond the limit it turns dense: a
// HyperLogLog with 2^kPrecision registers (standard error 1.04/sqrt(2^14) = 0.8%, so within
// 2% with high probability) estimated with Ertl's improved estimator (no bias tables), plus
// a bottom-k sample (the kExactLimit participants with the smallest hashes, with their exact
// counts; itself mergeable) from which the concentration ratio is estimated. Merge is a set
// union: the same participant seen by two aggregator instances counts once.
//
// Thread-compatible. Does no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace civicpulse::v1 {
class ParticipantSketch;
}

namespace civicpulse::core {

// Stable 64-bit hash of a participant pseudonym; identical in every process and release,
// because sketches from different instances are merged.
uint64_t HashParticipant(std::string_view participant);

class ParticipantSketch {
 public:
  static constexpr int kPrecision = 14;
  static constexpr size_t kExactLimit = 2048;
  // Largest exact set kept as a sorted array before it moves to a hash map. At 128, a dense
  // day's hourly cells (a couple of hundred people) took maps at 2-3x the array's bytes;
  // inserting into an array of 512 moves 2.5 KB at most (BM_AddIntoArray/400).
  static constexpr size_t kArrayLimit = 512;

  ParticipantSketch();
  ~ParticipantSketch();
  ParticipantSketch(const ParticipantSketch&);
  ParticipantSketch& operator=(const ParticipantSketch&);
  ParticipantSketch(ParticipantSketch&&) noexcept;
  ParticipantSketch& operator=(ParticipantSketch&&) noexcept;

  // Records `events` events by the participant with this hash.
  void Add(uint64_t participant_hash, uint32_t events = 1);
  // Set union (counts of the same participant add up).
  void Merge(const ParticipantSketch& other);

  // Distinct participants: exact in exact mode.
  double Estimate() const;
  // Distinct participants of the union of `parts`, as a merge of them would estimate it
  // (exact while the union has at most kExactLimit people), without building the merged
  // sketch's sample: for counts only (the seasonal history's unions of hours).
  static double UnionEstimate(const std::vector<const ParticipantSketch*>& parts);
  bool exact() const;
  bool empty() const;
  // Events recorded (sum of counts).
  uint64_t total_events() const;
  // Events of the ceil(n/10) most active of the n participants / all events; 0 when empty.
  // Exact in exact mode.
  double TopDecileShare() const;

  void ToProto(v1::ParticipantSketch* out) const;
  absl::Status FromProto(const v1::ParticipantSketch& in);
  // Bytes of the object and what it owns on the heap.
  size_t MemoryBytes() const;

 private:
  struct Rep;  // exact hash map, or dense registers + sample

  // The form is told by capacity_: kEmpty (nobody; size_ == 0), kOne (one participant:
  // data_.hash, its count in size_), kRep (data_.rep), otherwise the array form: size_
  // participants in data_.block, room for capacity_ (hashes(), counts()).
  static constexpr uint32_t kEmpty = 0;
  static constexpr uint32_t kOne = 0xFFFFFFFE;
  static constexpr uint32_t kRep = 0xFFFFFFFF;
  union Data {
    uint64_t hash;
    char* block;
    Rep* rep;
  };

  bool dense() const;
  // The array form's sorted hashes and their counts.
  uint64_t* hashes() const;
  uint16_t* counts() const;
  // Participants held: all of them in exact mode, the sample in dense mode.
  size_t held() const;
  // Calls fn(hash, count) for every participant held (in hash order unless a hash map).
  template <typename Fn>
  void ForEachHeld(Fn fn) const;
  // Adds `count` to the participant's count (not to total_), changing form as it grows;
  // never turns dense. REQUIRES: !dense().
  void AddExact(uint64_t hash, uint32_t count);
  // Moves the exact participants into a hash map Rep (if not one already) and returns it.
  Rep& ToRep();
  void Release();

  uint64_t total_ = 0;  // events recorded
  Data data_ = {.hash = 0};
  uint32_t size_ = 0;
  uint32_t capacity_ = kEmpty;
};

}  // namespace civicpulse::core
