// SeasonalBaseline: the participation expected for a trailing window, from the same window
// of the same hour of the week in previous weeks (docs/baseline.md).
//
// The aggregator keeps, per (area, kind), the event-time history of sealed hours
// (HourFigures: events and distinct-participant figures); the exporter reads the same window
// shifted back by 1..`weeks` weeks out of it (SameWindowInPreviousWeeks), sums members for
// unions (kind="all", area="all"), and takes a robust statistic over the usable weeks
// (Expect): weeks before the history starts or touching a configured holiday are unusable,
// weeks far from the median of the others are anomalous and kept out, and the expectation is
// the median of what is left, ready once at least `min_weeks` weeks are usable. Because the
// history is event time, a replay or a backfill gives the same expectation as running live.
//
// Thread-compatible (plain functions and structs). Does no I/O and reads no clock.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "civicpulse/core/engine_options.h"

namespace civicpulse::core {

inline constexpr int64_t kWeekMs = 7 * kDayMs;
// Most previous weeks the baseline may consider; the history kept is sized for it.
inline constexpr int kMaxBaselineWeeks = 8;
// Event-time history the aggregator keeps: kMaxBaselineWeeks weeks back from the oldest
// window start (7 d before the watermark), plus a day for interpolation and the grace.
inline constexpr int64_t kBaselineHistoryMs = kMaxBaselineWeeks * kWeekMs + 7 * kDayMs + kDayMs;

// One (area, kind) in one sealed event-time hour [start, start + 1 h).
struct HourFigures {
  uint64_t events = 0;
  // Distinct participants in the hour, in the 24 h ending at its end, and in the 7 d ending
  // at its end (only for the hour that ends a UTC day; -1 otherwise).
  int64_t participants_1h = 0;
  int64_t participants_24h = 0;
  int64_t participants_7d = -1;
};

// Hour start (ms since the epoch, a multiple of kHourMs) -> figures. A missing hour inside
// the history means nothing happened in it.
using HourlyFigures = absl::flat_hash_map<int64_t, HourFigures>;

struct BaselineOptions {
  // Previous weeks considered (1..kMaxBaselineWeeks). Default 8.
  int weeks = 8;
  // Usable weeks needed before the expectation is exported (the baseline is "ready").
  // Default 3.
  int min_weeks = 3;
  // Holidays: starts of UTC days (ms), sorted. A previous week whose window touches one is
  // unusable (a holiday is not a normal week). Default none.
  std::vector<int64_t> holidays;
  // A usable week is anomalous, and kept out, when its events differ from the median of the
  // usable weeks by more than the largest of: `anomaly_mads` robust standard deviations
  // (1.4826 MAD), `anomaly_poisson_sigmas` Poisson standard deviations (sqrt(median)), and
  // `anomaly_min_fraction` of the median. Defaults 3, 3, 0.25.
  double anomaly_mads = 3;
  double anomaly_poisson_sigmas = 3;
  double anomaly_min_fraction = 0.25;
};

// The same window in each previous week k = 1..weeks (index k - 1).
struct WeeklyValues {
  bool empty = true;  // no member added yet (Add copies the first)
  std::array<double, kMaxBaselineWeeks> events = {};
  std::array<double, kMaxBaselineWeeks> participants = {};
  std::array<bool, kMaxBaselineWeeks> usable = {};

  // Adds a member of a union: values add up, a week is usable when it is for every member.
  void Add(const WeeklyValues& other);
};

// Start of the span that window `window` ending at watermark `watermark_ms` covers: the
// cells of width window.cell_ms whose start s has W - L <= s < W, i.e. [start, start + L)
// with start = W - L rounded up to the cell width (docs/event-time.md, "Window edges").
int64_t WindowStart(int64_t watermark_ms, const WindowSpec& window);

// Events and distinct participants of the span [window_start - k weeks, + window length) in
// each previous week k, from `hours`. Events in a partial hour count in proportion to the
// overlap (events are assumed uniform within an hour); participant figures are interpolated
// linearly between the hour ends (days for 7 d) around the span's end. A week is usable when
// the history (which starts at `history_start_ms`, 0 = no history) reaches back to its start
// and its span touches no holiday.
WeeklyValues SameWindowInPreviousWeeks(const HourlyFigures& hours, int64_t window_start,
                                       const WindowSpec& window, int64_t history_start_ms,
                                       const BaselineOptions& options);

struct Expectation {
  bool ready = false;    // at least min_weeks usable weeks
  int usable_weeks = 0;  // before anomalies are kept out
  int weeks_used = 0;    // after
  double events = 0;
  double participants = 0;
};

// The median of the usable, non-anomalous weeks (events, and participants of those weeks).
Expectation Expect(const WeeklyValues& values, const BaselineOptions& options);

// Observed / expected events, never NaN or infinite: 1 when both are 0; when nothing is
// expected but something is observed, the observed count (as if one event was expected).
double ParticipationRatio(double observed, double expected);

// Parses holiday dates: "YYYY-MM-DD" separated by commas, spaces or newlines; '#' starts a
// comment to the end of the line. Returns UTC day starts (ms), sorted and unique.
// `origin` prefixes errors ("--holidays", a file name).
absl::StatusOr<std::vector<int64_t>> ParseHolidays(std::string_view text,
                                                   std::string_view origin);

}  // namespace civicpulse::core
