// EngineOptions: the event-time settings shared by the aggregator and the exporter
// (docs/reference.md, "Windows and time"; docs/event-time.md), and the fixed windows both sides agree
// on. Plain structs and constants; every field says its default. Thread-compatible.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace civicpulse::core {

inline constexpr int64_t kMinuteMs = 60 * 1000;
inline constexpr int64_t kHourMs = 60 * kMinuteMs;
inline constexpr int64_t kDayMs = 24 * kHourMs;

// One trailing window and the width of the cells that serve it. A window of length L ending
// at watermark W is the cells of width `cell_ms` whose start s satisfies W - L <= s < W
// (docs/event-time.md, "Window edges"): always exactly L / cell_ms cells.
struct WindowSpec {
  std::string_view label;  // the `window` metric label
  int64_t length_ms;
  int64_t cell_ms;
};
inline constexpr int kWindowCount = 3;
inline constexpr std::array<WindowSpec, kWindowCount> kWindows = {{
    {"1h", kHourMs, kMinuteMs},
    {"24h", kDayMs, 15 * kMinuteMs},
    {"7d", 7 * kDayMs, kHourMs},
}};

struct EngineOptions {
  // Watermark = largest event time applied - allowed_lateness.
  int64_t allowed_lateness_ms = 5 * kMinuteMs;
  // Events older than watermark - grace are late: counted, not applied.
  int64_t grace_ms = 1 * kHourMs;
  // A partition with no record for longer than this (wall clock) has its watermark advanced
  // to now - allowed_lateness.
  int64_t idle_timeout_ms = 1 * kMinuteMs;
  // The same event_id within this horizon is applied once.
  int64_t dedup_horizon_ms = 7 * kDayMs;
  // Bound on the event ids one partition remembers for deduplication (memory bound: the
  // oldest are forgotten first when more arrive within the horizon).
  size_t dedup_max_entries = 2'000'000;
  // A participant is new in an area when not seen there within this horizon before.
  int64_t new_participant_horizon_ms = 90 * kDayMs;
};

// Area cardinality cap (core/area_cap.h): a configured allow-list (the areas file) or, without
// one, at most `max_areas` areas keep their name (per input partition in the aggregator, in
// total in the exporter); everything else folds into "other".
struct AreaCapOptions {
  std::vector<std::string> allowed;  // empty: the max_areas rule
  size_t max_areas = 500;
};

}  // namespace civicpulse::core
