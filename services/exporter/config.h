// ExporterConfig: civicpulse-exporter's flags with their defaults, and their validation.
// AddFlags registers them on a CLI11 app; Finish() (after parsing) applies the common flags,
// parses the merge intervals and reads the areas file. Plain data, thread-compatible.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "civicpulse/core/indicator_store.h"
#include "civicpulse/kafka/client_config.h"
#include "civicpulse/runtime/common_flags.h"

namespace civicpulse::exporter {

inline constexpr char kDefaultListen[] = "0.0.0.0:9400";

struct ExporterConfig {
  runtime::CommonFlags common;
  std::string aggregates_topic = kafka::kAggregatesTopic;  // --aggregates-topic
  std::string areas_file;                                  // --areas-file (optional)
  int max_areas = 500;                                     // --max-areas
  std::string merge_interval = "1s";                       // --merge-interval
  std::string min_merge_interval = "100ms";                // --min-merge-interval
  // Seasonal baseline (docs/baseline.md).
  int baseline_weeks = 8;             // --baseline-weeks: previous weeks considered (1..8)
  int baseline_min_weeks = 3;         // --baseline-min-weeks: usable weeks before ready
  std::string holidays;               // --holidays: dates YYYY-MM-DD, comma-separated
  std::string holidays_file;          // --holidays-file: one date per line, '#' comments

  // Filled by Finish().
  absl::Duration merge_every = absl::Seconds(1);
  absl::Duration merge_at_most_every = absl::Milliseconds(100);
  core::IndicatorOptions indicators;

  void AddFlags(CLI::App* app);
  // Completes the configuration after parsing; InvalidArgument / NotFound with a one-line
  // message on a bad flag (the caller exits 2).
  absl::Status Finish();
};

}  // namespace civicpulse::exporter
