// IndicatorStore: the exporter's merged view of every aggregator's partial aggregates, and
// the indicator maths of docs/reference.md ("Indicator metrics").
//
// Keeps, per source partition, the progress record with the highest source offset and, per
// (source partition, area, kind, width, start), the cell snapshot with the highest source
// offset (ties replace), so replays, duplicates and rebalances are idempotent and the result
// does not depend on the order records arrive in. Windows 1h, 24h and 7d of a source
// partition end at that partition's watermark W and cover the cells of the window's width
// whose start s has W - L <= s < W (kWindows; docs/event-time.md); partitions are then merged
// (sums add, sketches union), with kind="all" and area="all" as unions. Cells no window can
// reach any more are dropped as watermarks advance, so memory stays bounded. The area labels
// are chosen in Compute by SelectAreaLabels over the set of area names held (core/area_cap.h),
// so every exporter that has read the same records exports the same labels.
//
// The seasonal baseline (docs/baseline.md): the hourly history each source partition
// publishes is kept per (area, kind) for kBaselineHistoryMs; Compute reads the same window in
// previous weeks out of it at that partition's watermark (core/seasonal_baseline.h), sums the
// members of kind="all" and area="all", and exports civicpulse_expected_events,
// civicpulse_expected_active_participants (per area and kind only: distinct counts do not
// add up), civicpulse_participation_ratio (those two only once ready) and
// civicpulse_baseline_ready.
//
// Thread-compatible. Does no I/O and reads no clock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "civicpulse/core/engine_options.h"
#include "civicpulse/core/seasonal_baseline.h"

namespace civicpulse::v1 {
class PartialAggregate;
}

namespace civicpulse::core {

enum class MetricType { kCounter, kGauge };

// One metric family, ready to be exposed; names and labels as in docs/reference.md.
struct IndicatorFamily {
  struct Series {
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
  };
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<Series> series;
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

  // Every indicator family of docs/reference.md at the current state, plus
  // civicpulse_exporter_partitions and civicpulse_exporter_watermark_timestamp_seconds.
  // Families and series come in a stable order.
  std::vector<IndicatorFamily> Compute() const;

  // Records ignored because they were malformed (unknown width or kind, bad sketch).
  uint64_t rejected_records() const;
  // Approximate heap bytes held.
  size_t MemoryBytes() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace civicpulse::core
