#include "indicator_collector.h"

#include <utility>

namespace civicpulse::exporter {

std::vector<prometheus::MetricFamily> ToMetricFamilies(
    const std::vector<core::IndicatorFamily>& families) {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families.size());
  for (const core::IndicatorFamily& family : families) {
    prometheus::MetricFamily& f = out.emplace_back();
    f.name = family.name;
    f.help = family.help.empty() ? "civicpulse indicator " + family.name : family.help;
    const bool counter = family.type == core::MetricType::kCounter;
    f.type = counter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
    f.metric.reserve(family.series.size());
    for (const core::IndicatorFamily::Series& series : family.series) {
      prometheus::ClientMetric& m = f.metric.emplace_back();
      m.label.reserve(series.labels.size());
      for (const auto& [name, value] : series.labels) m.label.push_back({name, value});
      if (counter) {
        m.counter.value = series.value;
      } else {
        m.gauge.value = series.value;
      }
    }
  }
  return out;
}

void IndicatorCollector::Update(const std::vector<core::IndicatorFamily>& families) {
  auto converted =
      std::make_shared<const std::vector<prometheus::MetricFamily>>(ToMetricFamilies(families));
  absl::MutexLock lock(&mu_);
  families_ = std::move(converted);
}

std::vector<prometheus::MetricFamily> IndicatorCollector::Collect() const {
  std::shared_ptr<const std::vector<prometheus::MetricFamily>> families;
  {
    absl::MutexLock lock(&mu_);
    families = families_;
  }
  if (families == nullptr) return {};
  return *families;
}

}  // namespace civicpulse::exporter
