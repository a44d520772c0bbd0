#include "indicator_metrics.h"

#include <string>
#include <utility>

#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/engine_options.h"
#include "civicpulse/core/event.h"

namespace civicpulse::exporter {
namespace {

using Labels = std::vector<prometheus::ClientMetric::Label>;

prometheus::MetricFamily& AddFamily(const MetricSpec& spec,
                                    std::vector<prometheus::MetricFamily>* out) {
  prometheus::MetricFamily& f = out->emplace_back();
  f.name = std::string(spec.name);
  f.help = std::string(spec.help);
  f.type = spec.type;
  return f;
}

void AddSeries(prometheus::MetricFamily* family, Labels labels, double value) {
  prometheus::ClientMetric& m = family->metric.emplace_back();
  m.label = std::move(labels);
  if (family->type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
}

std::string KindLabel(const core::SeriesIndicators& s) {
  return s.kind.has_value() ? std::string(core::KindName(*s.kind)) : std::string(core::kAllLabel);
}

std::string WindowLabel(int r) { return std::string(core::kWindows[r].label); }

// One area or the city; kind given; the series that export events and last event times.
bool SingleWithTotals(const core::SeriesIndicators& s) {
  return !s.city && s.kind.has_value() && s.has_totals;
}

// The seasonal families: one series per (series with totals, window whose expectation is
// ready), `value` of it.
template <typename Value>
void AddExpectationFamily(const MetricSpec& spec, bool single_only,
                          const std::vector<core::SeriesIndicators>& series, Value value,
                          std::vector<prometheus::MetricFamily>* out) {
  prometheus::MetricFamily& f = AddFamily(spec, out);
  for (const core::SeriesIndicators& s : series) {
    if (!s.has_totals || (single_only && (s.city || !s.kind.has_value()))) continue;
    for (int r = 0; r < core::kWindowCount; ++r) {
      if (!s.expected[r].ready) continue;
      AddSeries(&f, {{"area", s.area}, {"kind", KindLabel(s)}, {"window", WindowLabel(r)}},
                value(s, r));
    }
  }
}

template <typename Value>
void AddAreaFamily(const MetricSpec& spec, const std::vector<core::AreaIndicators>& areas,
                   Value value, std::vector<prometheus::MetricFamily>* out) {
  prometheus::MetricFamily& f = AddFamily(spec, out);
  f.metric.reserve(areas.size() * core::kWindowCount);
  for (const core::AreaIndicators& a : areas) {
    for (int r = 0; r < core::kWindowCount; ++r) {
      AddSeries(&f, {{"area", a.area}, {"window", WindowLabel(r)}}, value(a.windows[r]));
    }
  }
}

}  // namespace

std::vector<prometheus::MetricFamily> ToMetricFamilies(const core::Indicators& in) {
  using M = IndicatorMetrics;
  using W = core::WindowIndicators;
  std::vector<prometheus::MetricFamily> out;
  out.reserve(18);
  {
    prometheus::MetricFamily& f = AddFamily(M::kEvents, &out);
    for (const core::SeriesIndicators& s : in.series) {
      if (!SingleWithTotals(s)) continue;
      AddSeries(&f, {{"area", s.area}, {"kind", KindLabel(s)}}, static_cast<double>(s.events));
    }
  }
  {
    prometheus::MetricFamily& f = AddFamily(M::kActiveParticipants, &out);
    f.metric.reserve(in.series.size() * core::kWindowCount);
    for (const core::SeriesIndicators& s : in.series) {
      for (int r = 0; r < core::kWindowCount; ++r) {
        AddSeries(&f, {{"area", s.area}, {"kind", KindLabel(s)}, {"window", WindowLabel(r)}},
                  s.active_participants[r]);
      }
    }
  }
  AddAreaFamily(M::kNewParticipants, in.areas, [](const W& w) { return w.new_participants; },
                &out);
  AddAreaFamily(M::kVolunteerTime, in.areas, [](const W& w) { return w.volunteer_seconds; },
                &out);
  AddAreaFamily(M::kRecycledGrams, in.areas, [](const W& w) { return w.recycled_grams; }, &out);
  AddAreaFamily(M::kCollectiveRatio, in.areas, [](const W& w) { return w.collective_ratio; },
                &out);
  AddAreaFamily(M::kCoproductionRatio, in.areas,
                [](const W& w) { return w.coproduction_ratio; }, &out);
  AddAreaFamily(M::kConcentrationRatio, in.areas,
                [](const W& w) { return w.concentration_ratio; }, &out);
  {
    prometheus::MetricFamily& f = AddFamily(M::kCoproductionEvents, &out);
    for (const core::AreaIndicators& a : in.areas) {
      if (a.city || !a.has_totals) continue;
      for (int i = 0; i < core::kCoproductionTypeCount; ++i) {
        AddSeries(&f,
                  {{"area", a.area},
                   {"type", std::string(core::CoproductionTypeName(
                                static_cast<core::CoproductionType>(i + 1)))}},
                  static_cast<double>(a.coproduction_events[i]));
      }
    }
  }
  {
    prometheus::MetricFamily& f = AddFamily(M::kActiveParticipantsByAge, &out);
    for (int b = 1; b < core::kAgeBandCount; ++b) {
      for (int r = 0; r < core::kWindowCount; ++r) {
        AddSeries(&f,
                  {{"age_band", std::string(core::AgeBandName(static_cast<core::AgeBand>(b)))},
                   {"window", WindowLabel(r)}},
                  in.participants_by_age[b][r]);
      }
    }
  }
  {
    prometheus::MetricFamily& f = AddFamily(M::kAreaResidents, &out);
    for (const auto& [area, residents] : in.residents) AddSeries(&f, {{"area", area}}, residents);
  }
  {
    prometheus::MetricFamily& f = AddFamily(M::kLastEventTimestamp, &out);
    for (const core::SeriesIndicators& s : in.series) {
      if (!SingleWithTotals(s)) continue;
      AddSeries(&f, {{"area", s.area}, {"kind", KindLabel(s)}},
                static_cast<double>(s.last_event_ms) / 1000.0);
    }
  }
  using S = core::SeriesIndicators;
  AddExpectationFamily(M::kExpectedEvents, false, in.series,
                       [](const S& s, int r) { return s.expected[r].events; }, &out);
  AddExpectationFamily(M::kExpectedActiveParticipants, true, in.series,
                       [](const S& s, int r) { return s.expected[r].participants; }, &out);
  AddExpectationFamily(M::kParticipationRatio, false, in.series,
                       [](const S& s, int r) { return s.participation_ratio[r]; }, &out);
  {
    prometheus::MetricFamily& f = AddFamily(M::kBaselineReady, &out);
    for (const core::SeriesIndicators& s : in.series) {
      if (!s.has_totals) continue;
      AddSeries(&f, {{"area", s.area}, {"kind", KindLabel(s)}}, s.expected[0].ready ? 1.0 : 0.0);
    }
  }
  AddSeries(&AddFamily(M::kPartitions, &out), {}, static_cast<double>(in.partitions));
  AddSeries(&AddFamily(M::kWatermark, &out), {},
            static_cast<double>(in.min_watermark_ms) / 1000.0);
  return out;
}

}  // namespace civicpulse::exporter
