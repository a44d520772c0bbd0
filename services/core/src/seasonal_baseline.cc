#include "civicpulse/core/seasonal_baseline.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace civicpulse::core {
namespace {

int64_t FloorTo(int64_t t, int64_t width) {
  int64_t q = t / width;
  if (t % width != 0 && t < 0) --q;
  return q * width;
}

int64_t CeilTo(int64_t t, int64_t width) {
  const int64_t f = FloorTo(t, width);
  return f == t ? t : f + width;
}

// Events in [from, to), partial hours in proportion to the overlap.
double EventsIn(const HourlyFigures& hours, int64_t from, int64_t to) {
  double sum = 0;
  for (int64_t h = FloorTo(from, kHourMs); h < to; h += kHourMs) {
    auto it = hours.find(h);
    if (it == hours.end() || it->second.events == 0) continue;
    const int64_t overlap = std::min(to, h + kHourMs) - std::max(from, h);
    sum += static_cast<double>(it->second.events) * static_cast<double>(overlap) /
           static_cast<double>(kHourMs);
  }
  return sum;
}

// A participant figure sampled at the ends of `step`-long periods (hours or days), at the
// period end `end_ms`: the field of the hour that ends there; 0 when that hour is not held.
double FigureAt(const HourlyFigures& hours, int64_t end_ms, int64_t HourFigures::*field) {
  auto it = hours.find(end_ms - kHourMs);
  if (it == hours.end()) return 0;
  return static_cast<double>(std::max<int64_t>(it->second.*field, 0));
}

// The figure at `t`, linearly between the sample points around it.
double Interpolate(const HourlyFigures& hours, int64_t t, int64_t step,
                   int64_t HourFigures::*field) {
  const int64_t before = FloorTo(t, step);
  const double a = FigureAt(hours, before, field);
  if (before == t) return a;
  const double b = FigureAt(hours, before + step, field);
  const double f = static_cast<double>(t - before) / static_cast<double>(step);
  return a + (b - a) * f;
}

bool TouchesHoliday(const std::vector<int64_t>& holidays, int64_t from, int64_t to) {
  // The first holiday ending after `from`; it touches when it starts before `to`.
  auto it = std::lower_bound(holidays.begin(), holidays.end(), from - kDayMs + 1);
  return it != holidays.end() && *it < to;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  const double lower =
      *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

}  // namespace

void WeeklyValues::Add(const WeeklyValues& other) {
  if (other.empty) return;
  if (empty) {
    *this = other;
    return;
  }
  for (int k = 0; k < kMaxBaselineWeeks; ++k) {
    events[k] += other.events[k];
    participants[k] += other.participants[k];
    usable[k] = usable[k] && other.usable[k];
  }
}

int64_t WindowStart(int64_t watermark_ms, const WindowSpec& window) {
  return CeilTo(watermark_ms - window.length_ms, window.cell_ms);
}

WeeklyValues SameWindowInPreviousWeeks(const HourlyFigures& hours, int64_t window_start,
                                       const WindowSpec& window, int64_t history_start_ms,
                                       const BaselineOptions& options) {
  WeeklyValues out;
  out.empty = false;
  const int weeks = std::clamp(options.weeks, 1, kMaxBaselineWeeks);
  for (int k = 1; k <= weeks; ++k) {
    const int64_t from = window_start - k * kWeekMs;
    const int64_t to = from + window.length_ms;
    const bool usable = history_start_ms > 0 && from >= history_start_ms &&
                        !TouchesHoliday(options.holidays, from, to);
    out.usable[k - 1] = usable;
    if (!usable) continue;
    out.events[k - 1] = EventsIn(hours, from, to);
    double participants;
    if (window.length_ms <= kHourMs) {
      participants = Interpolate(hours, to, kHourMs, &HourFigures::participants_1h);
    } else if (window.length_ms <= kDayMs) {
      participants = Interpolate(hours, to, kHourMs, &HourFigures::participants_24h);
    } else {
      participants = Interpolate(hours, to, kDayMs, &HourFigures::participants_7d);
    }
    out.participants[k - 1] = participants;
  }
  return out;
}

Expectation Expect(const WeeklyValues& values, const BaselineOptions& options) {
  Expectation out;
  if (values.empty) return out;
  const int weeks = std::clamp(options.weeks, 1, kMaxBaselineWeeks);
  std::vector<int> usable;
  std::vector<double> events;
  for (int k = 0; k < weeks; ++k) {
    if (!values.usable[k]) continue;
    usable.push_back(k);
    events.push_back(values.events[k]);
  }
  out.usable_weeks = static_cast<int>(usable.size());
  if (out.usable_weeks < std::max(options.min_weeks, 1)) return out;

  const double median = Median(events);
  std::vector<double> deviations;
  for (double e : events) deviations.push_back(std::abs(e - median));
  const double mad = Median(deviations);
  const double band = std::max({options.anomaly_mads * 1.4826 * mad,
                                options.anomaly_poisson_sigmas * std::sqrt(std::max(median, 1.0)),
                                options.anomaly_min_fraction * median});
  std::vector<double> kept_events, kept_participants;
  for (int k : usable) {
    if (std::abs(values.events[k] - median) > band) continue;  // anomalous: kept out
    kept_events.push_back(values.events[k]);
    kept_participants.push_back(values.participants[k]);
  }
  // At least half the weeks lie within one MAD of the median, so some are always kept.
  out.ready = true;
  out.weeks_used = static_cast<int>(kept_events.size());
  out.events = Median(kept_events);
  out.participants = Median(kept_participants);
  return out;
}

double ParticipationRatio(double observed, double expected) {
  if (expected > 0) return observed / expected;
  return observed > 0 ? observed : 1.0;
}

absl::StatusOr<std::vector<int64_t>> ParseHolidays(std::string_view text,
                                                   std::string_view origin) {
  std::vector<int64_t> out;
  size_t i = 0;
  int line = 1;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (c == '\n') ++line;
    if (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && text[end] != ',' && text[end] != ' ' && text[end] != '\t' &&
           text[end] != '\r' && text[end] != '\n' && text[end] != '#') {
      ++end;
    }
    const std::string token(text.substr(i, end - i));
    absl::CivilDay day;
    if (token.size() != 10 || !absl::ParseCivilTime(token, &day)) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ":", line, ": \"", token,
                                                     "\" is not a date (YYYY-MM-DD)"));
    }
    out.push_back(absl::ToUnixMillis(absl::FromCivil(day, absl::UTCTimeZone())));
    i = end;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace civicpulse::core
