// Test-only: core::Indicators as named series, with the metric names and labels of
// docs/reference.md, so that the core's tests state their expectations in the contract's
// words. The exporter's own naming (services/exporter/indicator_metrics.h) is tested against
// the same names in indicator_metrics_test.cc and end to end.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "civicpulse/core/indicator_store.h"

namespace civicpulse::core {

struct TestFamily {
  struct Series {
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
  };
  std::string name;
  std::vector<Series> series;
};

inline std::vector<TestFamily> TestFamilies(const Indicators& in) {
  using Labels = std::vector<std::pair<std::string, std::string>>;
  std::vector<TestFamily> out;
  auto family = [&out](std::string name) -> TestFamily& {
    TestFamily& f = out.emplace_back();
    f.name = std::move(name);
    return f;
  };
  auto kind = [](const SeriesIndicators& s) {
    return s.kind.has_value() ? std::string(KindName(*s.kind)) : std::string(kAllLabel);
  };
  auto window = [](int r) { return std::string(kWindows[r].label); };
  auto single = [](const SeriesIndicators& s) {
    return !s.city && s.kind.has_value() && s.has_totals;
  };
  TestFamily* f = &family("civicpulse_events_total");
  for (const SeriesIndicators& s : in.series) {
    if (single(s)) f->series.push_back({{{"area", s.area}, {"kind", kind(s)}}, double(s.events)});
  }
  f = &family("civicpulse_active_participants");
  for (const SeriesIndicators& s : in.series) {
    for (int r = 0; r < kWindowCount; ++r) {
      f->series.push_back({{{"area", s.area}, {"kind", kind(s)}, {"window", window(r)}},
                           s.active_participants[r]});
    }
  }
  auto area_family = [&](std::string name, double (*value)(const WindowIndicators&)) {
    TestFamily& g = family(std::move(name));
    for (const AreaIndicators& a : in.areas) {
      for (int r = 0; r < kWindowCount; ++r) {
        g.series.push_back({{{"area", a.area}, {"window", window(r)}}, value(a.windows[r])});
      }
    }
  };
  area_family("civicpulse_new_participants", [](const WindowIndicators& w) { return w.new_participants; });
  area_family("civicpulse_volunteer_time_seconds", [](const WindowIndicators& w) { return w.volunteer_seconds; });
  area_family("civicpulse_recycled_grams", [](const WindowIndicators& w) { return w.recycled_grams; });
  area_family("civicpulse_collective_participation_ratio", [](const WindowIndicators& w) { return w.collective_ratio; });
  area_family("civicpulse_coproduction_ratio", [](const WindowIndicators& w) { return w.coproduction_ratio; });
  area_family("civicpulse_participant_concentration_ratio", [](const WindowIndicators& w) { return w.concentration_ratio; });
  f = &family("civicpulse_coproduction_events_total");
  for (const AreaIndicators& a : in.areas) {
    if (a.city || !a.has_totals) continue;
    for (int i = 0; i < kCoproductionTypeCount; ++i) {
      f->series.push_back(
          {{{"area", a.area},
            {"type", std::string(CoproductionTypeName(static_cast<CoproductionType>(i + 1)))}},
           double(a.coproduction_events[i])});
    }
  }
  f = &family("civicpulse_active_participants_by_age");
  for (int b = 1; b < kAgeBandCount; ++b) {
    for (int r = 0; r < kWindowCount; ++r) {
      f->series.push_back({{{"age_band", std::string(AgeBandName(static_cast<AgeBand>(b)))},
                            {"window", window(r)}},
                           in.participants_by_age[b][r]});
    }
  }
  f = &family("civicpulse_area_residents");
  for (const auto& [area, n] : in.residents) f->series.push_back({{{"area", area}}, n});
  f = &family("civicpulse_last_event_timestamp_seconds");
  for (const SeriesIndicators& s : in.series) {
    if (single(s)) {
      f->series.push_back({{{"area", s.area}, {"kind", kind(s)}}, double(s.last_event_ms) / 1000.0});
    }
  }
  auto expectation = [&](std::string name, bool single_only, auto value) {
    TestFamily& g = family(std::move(name));
    for (const SeriesIndicators& s : in.series) {
      if (!s.has_totals || (single_only && (s.city || !s.kind.has_value()))) continue;
      for (int r = 0; r < kWindowCount; ++r) {
        if (!s.expected[r].ready) continue;
        g.series.push_back(
            {Labels{{"area", s.area}, {"kind", kind(s)}, {"window", window(r)}}, value(s, r)});
      }
    }
  };
  expectation("civicpulse_expected_events", false,
              [](const SeriesIndicators& s, int r) { return s.expected[r].events; });
  expectation("civicpulse_expected_active_participants", true,
              [](const SeriesIndicators& s, int r) { return s.expected[r].participants; });
  expectation("civicpulse_participation_ratio", false,
              [](const SeriesIndicators& s, int r) { return s.participation_ratio[r]; });
  f = &family("civicpulse_baseline_ready");
  for (const SeriesIndicators& s : in.series) {
    if (s.has_totals) {
      f->series.push_back({{{"area", s.area}, {"kind", kind(s)}}, s.expected[0].ready ? 1.0 : 0.0});
    }
  }
  family("civicpulse_exporter_partitions").series.push_back({{}, double(in.partitions)});
  family("civicpulse_exporter_watermark_timestamp_seconds")
      .series.push_back({{}, double(in.min_watermark_ms) / 1000.0});
  return out;
}

}  // namespace civicpulse::core
