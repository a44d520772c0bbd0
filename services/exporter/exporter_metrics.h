// ExporterMetrics: civicpulse-exporter's own health metrics (the indicators themselves are
// served by IndicatorCollector), registered once at start-up on an injected registry.
//
// prometheus-cpp metrics are thread-safe: the merge loop updates them while the HTTP thread
// collects.
#pragma once

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace civicpulse::exporter {

struct ExporterMetrics {
  explicit ExporterMetrics(prometheus::Registry& registry);

  prometheus::Counter& records;          // civicpulse_exporter_records_total
  prometheus::Counter& invalid_records;  // civicpulse_exporter_invalid_records_total
  prometheus::Counter& fenced_records;   // civicpulse_exporter_fenced_records_total
  prometheus::Counter& incomplete_records;  // civicpulse_exporter_incomplete_records_total
  prometheus::Counter& rejected_records;    // civicpulse_exporter_rejected_records_total
  prometheus::Counter& fetch_wakeups;       // civicpulse_exporter_fetch_wakeups_total
  prometheus::Gauge& last_merge_timestamp_seconds;
  prometheus::Gauge& merge_duration_seconds;
};

}  // namespace civicpulse::exporter
