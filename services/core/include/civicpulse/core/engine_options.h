// EngineOptions: the event-time settings shared by the aggregator and the exporter
// (design.md, "Windows and time"). A plain struct; every field says its default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace civicpulse::core {

inline constexpr int64_t kMinuteMs = 60 * 1000;
inline constexpr int64_t kHourMs = 60 * kMinuteMs;
inline constexpr int64_t kDayMs = 24 * kHourMs;

struct EngineOptions {
  // Watermark = largest event time seen - allowed_lateness.
  int64_t allowed_lateness_ms = 5 * kMinuteMs;
  // Events older than watermark - grace are late: counted, not applied.
  int64_t grace_ms = 1 * kHourMs;
  // A partition idle longer than this has its watermark advanced by wall-clock time.
  int64_t idle_timeout_ms = 1 * kMinuteMs;
  // The same event_id within this horizon is applied once.
  int64_t dedup_horizon_ms = 7 * kDayMs;
  // A participant is new when not seen in this horizon before.
  int64_t new_participant_horizon_ms = 90 * kDayMs;
};

// Area cardinality cap: a configured allow-list (the areas file) or, without one, the first
// `max_areas` distinct areas seen; everything else folds into "other".
struct AreaCapOptions {
  std::vector<std::string> allowed;  // empty: first-N rule
  size_t max_areas = 500;
};

}  // namespace civicpulse::core
