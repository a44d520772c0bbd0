// ParticipantSketch: a mergeable distinct-count sketch of participants that also answers
// the concentration question ("share of events by the most active tenth").
//
// Exact mode keeps each participant's 64-bit hash with its event count, up to kExactLimit
// distinct participants (so counts below 1000 are exact): nothing while empty, a packed
// array for a handful of people, then a hash map. Beyond the limit it turns dense: a
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
  size_t MemoryBytes() const;

 private:
  struct Rep;
  static const Rep& EmptyRep();
  Rep* rep_;  // null while empty
};

}  // namespace civicpulse::core
