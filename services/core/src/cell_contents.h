// Internal to services/core. CellContents: what one cell holds for one (area, kind) and one
// time bucket — sums and participant sketches — and its encoding in a v1::Cell. The
// aggregator's live cells (partition_aggregator.cc) and the exporter's stored snapshots
// (indicator_store.cc) are both this plus their own bookkeeping.
//
// Thread-compatible. Does no I/O.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/participant_sketch.h"
#include "civicpulse/v1/aggregate.pb.h"

namespace civicpulse::core {

struct CellContents {
  uint64_t events = 0;
  uint64_t attributed_events = 0;
  uint64_t collective_events = 0;
  uint64_t public_body_events = 0;
  double volunteer_seconds = 0;
  double recycled_grams = 0;
  ParticipantSketch participants;
  // Few bands per cell in practice: a small vector beats a map.
  std::vector<std::pair<AgeBand, ParticipantSketch>> by_age;

  // The participants whose event here was their first in the area within the horizon (a
  // subset of `participants`, with those events' counts).
  const ParticipantSketch& new_participants() const {
    return new_is_participants_ ? participants : new_participants_;
  }

  // Adds one event of a participant: to `participants`, and also to new_participants() when
  // `is_new`.
  void AddParticipant(uint64_t hash, bool is_new) {
    if (!is_new) SeparateNew();
    participants.Add(hash);
    if (is_new && !new_is_participants_) new_participants_.Add(hash);
  }

  // Writes the sums (not the sketches, area, kind, start or width).
  void SumsToProto(v1::Cell* cell) const {
    cell->set_events(events);
    cell->set_attributed_events(attributed_events);
    cell->set_collective_events(collective_events);
    cell->set_public_body_events(public_body_events);
    cell->set_volunteer_seconds(volunteer_seconds);
    cell->set_recycled_grams(recycled_grams);
  }

  // Writes the sums and sketches (not area, kind, start or width).
  void ToProto(v1::Cell* cell) const {
    SumsToProto(cell);
    participants.ToProto(cell->mutable_participants());
    if (new_is_participants_) {
      cell->set_new_are_participants(true);
    } else {
      new_participants_.ToProto(cell->mutable_new_participants());
    }
    for (const auto& [band, sketch] : by_age) {
      sketch.ToProto(&(*cell->mutable_participants_by_age())[std::string(AgeBandName(band))]);
    }
  }

  // Reads what ToProto wrote into an empty CellContents; an age band it does not know is
  // skipped, a malformed sketch is an error.
  absl::Status FromProto(const v1::Cell& cell) {
    if (absl::Status s = participants.FromProto(cell.participants()); !s.ok()) return s;
    new_is_participants_ =
        cell.new_are_participants() || SameSketch(cell.new_participants(), cell.participants());
    if (!new_is_participants_) {
      if (absl::Status s = new_participants_.FromProto(cell.new_participants()); !s.ok()) {
        return s;
      }
    }
    for (const auto& [name, proto] : cell.participants_by_age()) {
      const AgeBand band = ParseAgeBand(name);
      if (band == AgeBand::kNone) continue;
      ParticipantSketch sketch;
      if (absl::Status s = sketch.FromProto(proto); !s.ok()) return s;
      by_age.emplace_back(band, std::move(sketch));
    }
    SumsFromProto(cell);
    return absl::OkStatus();
  }

  // Applies an increment (cell.increment(): what the cell gained since the writer's previous
  // batch) to what this holds: each sketch merges the participants added, the sums replace.
  // Exactly what the writer holds, provided this held what the writer's previous batch left
  // (a union with event counts that add is what the writer's Adds did). Changes nothing when
  // a sketch is malformed. With `gain` (an empty CellContents), also says what this gained:
  // the participants added, and how much each sum grew (unsigned ones modulo 2^64: exact).
  absl::Status MergeIncrement(const v1::Cell& cell, CellContents* gain = nullptr) {
    CellContents own;
    CellContents& added = gain != nullptr ? *gain : own;
    if (absl::Status s = added.FromProto(cell); !s.ok()) return s;
    if (new_is_participants_ && added.new_is_participants_) {
      participants.Merge(added.participants);  // everyone new on both sides: still so
    } else {
      SeparateNew();
      participants.Merge(added.participants);
      new_participants_.Merge(added.new_participants());
    }
    for (const auto& [band, sketch] : added.by_age) SketchOfBand(band).Merge(sketch);
    added.events -= events;
    added.attributed_events -= attributed_events;
    added.collective_events -= collective_events;
    added.public_body_events -= public_body_events;
    added.volunteer_seconds -= volunteer_seconds;
    added.recycled_grams -= recycled_grams;
    SumsFromProto(cell);
    return absl::OkStatus();
  }

  // The sketch of the participants carrying `band` (not kNone), added empty if none yet.
  ParticipantSketch& SketchOfBand(AgeBand band) {
    auto it = std::find_if(by_age.begin(), by_age.end(),
                           [band](const auto& entry) { return entry.first == band; });
    if (it != by_age.end()) return it->second;
    by_age.reserve(by_age.size() + 1);  // exact: few bands a cell, held for days
    return by_age.emplace_back(band, ParticipantSketch()).second;
  }

  void SumsFromProto(const v1::Cell& cell) {
    events = cell.events();
    attributed_events = cell.attributed_events();
    collective_events = cell.collective_events();
    public_body_events = cell.public_body_events();
    volunteer_seconds = cell.volunteer_seconds();
    recycled_grams = cell.recycled_grams();
  }

  // Heap bytes of the sketches and the age-band list (the struct itself not included).
  size_t HeapBytes() const {
    size_t bytes = participants.MemoryBytes();
    if (!new_is_participants_) bytes += new_participants_.MemoryBytes();
    bytes += by_age.capacity() * sizeof(by_age[0]);
    for (const auto& [band, sketch] : by_age) bytes += sketch.MemoryBytes();
    return bytes;
  }

 private:
  // Gives new_participants() a sketch of its own (a copy of `participants`) before the two
  // part.
  void SeparateNew() {
    if (!new_is_participants_) return;
    new_participants_ = participants;
    new_is_participants_ = false;
  }

  // Whether two encoded sketches are the same sketch.
  static bool SameSketch(const v1::ParticipantSketch& a, const v1::ParticipantSketch& b) {
    auto same = [](const auto& x, const auto& y) {
      return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin());
    };
    return a.total_count() == b.total_count() && a.precision() == b.precision() &&
           same(a.hashes(), b.hashes()) && same(a.counts(), b.counts()) &&
           a.registers() == b.registers() && same(a.heavy_hashes(), b.heavy_hashes()) &&
           same(a.heavy_counts(), b.heavy_counts());
  }

  // While every participant event here was new (most cells of a replay, where everyone is
  // seen for the first time), new_participants() is `participants` itself and this sketch
  // stays empty: it held a copy of the same people (issue 8's week: 310 -> 276 MB of state).
  bool new_is_participants_ = true;
  ParticipantSketch new_participants_;
};

}  // namespace civicpulse::core
