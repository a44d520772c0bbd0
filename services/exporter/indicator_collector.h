// IndicatorCollector: the prometheus-cpp Collectable that serves the exporter's indicators.
// The merge loop hands it the IndicatorStore's latest families with Update(); the HTTP
// thread reads them with Collect(). Conversion happens in Update(), so a scrape only copies.
//
// Thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "civicpulse/core/indicator_store.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace civicpulse::exporter {

// IndicatorFamily -> prometheus MetricFamily (counter or gauge, labels in order). A family
// without help text gets one, since the exposition format's linters require it.
std::vector<prometheus::MetricFamily> ToMetricFamilies(
    const std::vector<core::IndicatorFamily>& families);

class IndicatorCollector final : public prometheus::Collectable {
 public:
  void Update(const std::vector<core::IndicatorFamily>& families);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const std::vector<prometheus::MetricFamily>> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace civicpulse::exporter
