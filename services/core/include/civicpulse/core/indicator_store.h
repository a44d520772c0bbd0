// IndicatorStore: the exporter's merged view of every aggregator's partial aggregates, and
// the indicator maths of docs/reference.md ("Indicator metrics").
//
// Keeps, per source partition, the progress record with the highest source offset and, per
// (source partition, area, kind, width, start), the cell snapshot with the highest source
// offset (ties replace), so replays, duplicates and rebalances of whole cells are idempotent
// and the result does not depend on the order records arrive in. An increment
// (v1::Cell.increment, from an aggregator that publishes them) merges into the cell held
// instead: increments must be applied once each and in their lineage's order, as the
// exporter's BatchReader hands them out. Windows 1h, 24h and 7d of a source
// partition end at that partition's watermark W and cover the cells of the window's width
// whose start s has W - L <= s < W (kWindows; docs/event-time.md); partitions are then merged
// (sums add, sketches union), with kind="all" and area="all" as unions. Cells no window can
// reach any more are dropped as watermarks advance, so memory stays bounded. The area labels
// are chosen in Compute by SelectAreaLabels over the set of area names held and when each was
// first seen in event time (core/area_cap.h), so every exporter that has read the same
// records exports the same labels.
//
// The seasonal baseline (docs/baseline.md): the hourly history each source partition
// publishes is kept per (area, kind) for kBaselineHistoryMs; Compute reads the same window in
// previous weeks out of it at that partition's watermark (core/seasonal_baseline.h), sums the
// members of kind="all" and area="all", and returns the expectation (expected events, expected
// distinct participants, the participation ratio, readiness) beside the observed figures.
//
// Compute is incremental. Each window of a source partition's (area, resolution) cells is
// cut into a front (cells before the first aligned block), a middle of whole blocks (10 min
// of 1-minute cells for 1h, 2 h of 15-minute cells for 24h, 1 day of 1-hour cells for 7d;
// each block merged once), a back, and the recent cells (the newest 10, 2 and 2, where late
// events land). Front, middle and back are kept merged: they are extended when the window's
// end passes a cell, rebuilt when its start passes one (the front: less than a block; the
// middle: from the merged blocks) or when a cell in them changes (a newer snapshot, an
// eviction, a reset). Per area and for the city, the union of those is kept too; a window is
// a copy of it plus the recent cells, computed only for areas whose cells in the window
// changed or whose window edges moved (a cell beyond the window's end, where an on-time
// stream's events land, changes nothing until the watermark brings it in). Equal to a merge
// from scratch (indicator_store_test.cc): unions are associative and commutative; sums of
// fractional values may differ in the last bits.
//
// Compute returns typed indicators (Indicators): no metric names, no labels. The exporter
// names them (services/exporter/indicator_metrics.h; docs/reference.md).
//
// Thread-compatible (Compute updates caches: no concurrent calls of any method). Does no I/O
// and reads no clock.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/engine_options.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/seasonal_baseline.h"

namespace civicpulse::v1 {
class PartialAggregate;
}

namespace civicpulse::core {

// The figures of one area (or of the whole city, area "all") over one trailing window.
struct WindowIndicators {
  double new_participants = 0;     // distinct people first seen in the area in 90 days
  double volunteer_seconds = 0;    // volunteer time given
  double recycled_grams = 0;       // weight recycled
  double collective_ratio = 0;     // events with mode=collective / all events (0 without)
  double coproduction_ratio = 0;   // events with a public body / all events (0 without)
  double concentration_ratio = 0;  // events of the most active tenth / all events
};

// One area, or the city (`area` == kAllLabel, always last).
struct AreaIndicators {
  std::string area;
  bool city = false;  // the union of every area (labelled kAllLabel)
  std::array<WindowIndicators, kWindowCount> windows;  // by kWindows index
  // True when some kind of the area has cumulative totals (never for the city): then
  // `coproduction_events` holds the events applied by type of co-production.
  bool has_totals = false;
  std::array<uint64_t, kCoproductionTypeCount> coproduction_events = {};
};

// One (area, kind): `kind` empty means all kinds (a union), `area` == kAllLabel the city.
struct SeriesIndicators {
  std::string area;
  bool city = false;  // the union of every area (labelled kAllLabel)
  std::optional<Kind> kind;
  // Cumulative totals exist (events, last event time, the seasonal expectation). Every
  // series has active participants; only those with totals have the rest.
  bool has_totals = false;
  uint64_t events = 0;        // applied events (single area and kind only)
  int64_t last_event_ms = 0;  // largest event time applied (single area and kind only)
  std::array<double, kWindowCount> active_participants = {};
  // The seasonal expectation of the same window in previous weeks (when has_totals), and
  // observed / expected events (core/seasonal_baseline.h).
  std::array<Expectation, kWindowCount> expected = {};
  std::array<double, kWindowCount> participation_ratio = {};
};

// Every indicator at one state of the store, in a stable order.
struct Indicators {
  // Areas in name order, each with its kinds (in Kind order) then its kind "all"; then the
  // city's kinds and the city's "all" last.
  std::vector<SeriesIndicators> series;
  // Areas in name order, the city last.
  std::vector<AreaIndicators> areas;
  // City-wide distinct participants by age band (index: AgeBand; kNone unused) and window.
  std::array<std::array<double, kWindowCount>, kAgeBandCount> participants_by_age = {};
  // The areas file's residents per area (IndicatorOptions::residents, as given).
  std::vector<std::pair<std::string, double>> residents;
  // Source partitions held, and the smallest watermark over them (0 before any).
  size_t partitions = 0;
  int64_t min_watermark_ms = 0;
};

struct IndicatorOptions {
  AreaCapOptions areas;
  // Residents per area (the areas file), exported as civicpulse_area_residents.
  std::vector<std::pair<std::string, double>> residents;
  // The seasonal expectation's parameters (weeks, readiness, holidays, anomalies).
  BaselineOptions baseline;
};

class IndicatorStore {
 public:
  explicit IndicatorStore(IndicatorOptions options);
  ~IndicatorStore();
  IndicatorStore(const IndicatorStore&) = delete;
  IndicatorStore& operator=(const IndicatorStore&) = delete;

  // Applies one record from civicpulse.aggregates.v1; older snapshots than held are ignored.
  void Apply(const v1::PartialAggregate& record);
  // Forgets everything of one source partition (before applying a snapshot batch of it,
  // which replaces its whole state: proto/civicpulse/v1/batch.proto).
  void ResetSource(const std::string& topic, int32_t partition);

  // Every indicator at the current state (docs/reference.md, "Indicator metrics"). Merges
  // again only what changed since the previous call (see above).
  Indicators Compute();

  // Records ignored because they were malformed (unknown width or kind, bad sketch).
  uint64_t rejected_records() const;
  // Windows (an area's or the city's, one length) merged again by Compute so far: the
  // measure of its work. A record that changes no window's cells adds none.
  uint64_t windows_recomputed() const;
  // Approximate heap bytes held.
  size_t MemoryBytes() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace civicpulse::core
