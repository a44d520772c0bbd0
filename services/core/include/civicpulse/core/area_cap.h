// Area label cap: keeps the `area` label set bounded, and gives every area the same label in
// every process whatever order records arrive in and whichever partitions a process owns
// (docs/reference.md, "Area labels").
//
// Two pieces, one per side of the aggregates topic:
// - AreaCap (aggregator, one per input partition): bounds the engine's memory. With an
//   allow-list (the areas file) only listed areas keep their name; without one, the first
//   `max_areas` distinct areas *applied in that partition's log order* do. A partition's log
//   order is the same for every consumer, and the admitted set is part of the checkpointed
//   state (only applied areas are admitted, and their totals are kept for ever), so the
//   result depends on the partition's records alone: not on the instance, not on what else
//   it owns, not on a rebalance.
// - SelectAreaLabels (exporter): the label rule itself, a function of the *set* of areas the
//   exporter holds and when each was first seen in event time, never of the order records
//   arrive in. With an allow-list, the listed areas; without, all of them while there are
//   at most `max_areas`, else the first `max_areas` seen (earliest first event; ties, and
//   areas whose first event is not known, which come after, by name). At most max_areas
//   (or the list's size) label values plus "other".
//
// Thread-compatible. Does no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/node_hash_set.h"
#include "civicpulse/core/engine_options.h"

namespace civicpulse::core {

inline constexpr std::string_view kOtherArea = "other";
inline constexpr std::string_view kAllLabel = "all";

class AreaCap {
 public:
  explicit AreaCap(AreaCapOptions options);

  // The label to use for `area`: itself, or "other". The view stays valid as long as this.
  std::string_view Fold(std::string_view area);
  size_t size() const { return known_.size(); }

 private:
  AreaCapOptions options_;
  bool fixed_;
  absl::node_hash_set<std::string> known_;  // node: returned views stay valid
};

// For each of `areas` (distinct names, any order), whether it keeps its own name as a label;
// the others fold into "other". `first_seen_ms[i]` is when areas[i] was first seen in event
// time (its earliest event applied), 0 when not known. The reserved values "other" and
// "all" never keep theirs. Deterministic: the answer for one area depends only on the set of
// (name, first seen) pairs and the options, never on their order. O(n log n).
std::vector<bool> SelectAreaLabels(const AreaCapOptions& options,
                                   const std::vector<std::string>& areas,
                                   const std::vector<int64_t>& first_seen_ms);

}  // namespace civicpulse::core
