#include "indicator_collector.h"

#include <utility>

#include "prometheus/text_serializer.h"

namespace civicpulse::exporter {

IndicatorCollector::IndicatorCollector() : snapshot_(std::make_shared<const Snapshot>()) {}

void IndicatorCollector::Update(std::vector<prometheus::MetricFamily> families) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->families = std::move(families);
  for (prometheus::MetricFamily& f : snapshot->families) {
    if (f.help.empty()) f.help = "civicpulse indicator " + f.name;
  }
  snapshot->text = prometheus::TextSerializer().Serialize(snapshot->families);
  absl::MutexLock lock(&mu_);
  snapshot_ = std::move(snapshot);
}

std::shared_ptr<const std::string> IndicatorCollector::TextOf(
    std::shared_ptr<const Snapshot> snapshot) {
  const std::string* text = &snapshot->text;
  return std::shared_ptr<const std::string>(std::move(snapshot), text);
}

std::shared_ptr<const std::string> IndicatorCollector::Text() const {
  absl::MutexLock lock(&mu_);
  return TextOf(snapshot_);
}

std::vector<prometheus::MetricFamily> IndicatorCollector::Collect() const {
  std::shared_ptr<const Snapshot> snapshot;
  {
    absl::MutexLock lock(&mu_);
    snapshot = snapshot_;
  }
  return snapshot->families;
}

}  // namespace civicpulse::exporter
