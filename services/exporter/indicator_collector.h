// IndicatorCollector: what /metrics serves of the exporter's indicators. The merge loop hands
// it each recomputation's families with Update(), which serializes them once (Prometheus text
// format 0.0.4, as prometheus-cpp's TextSerializer writes it) into an immutable snapshot; a
// scrape takes the current snapshot under a mutex (a shared_ptr copy) and appends its text
// (HttpServer::AddExposition), so a scrape neither copies nor serializes any family. Collect()
// still returns the families for Collectable users (a deep copy; /metrics does not use it).
//
// Thread-safe: Update() from the merge loop, Text() and Collect() from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace civicpulse::exporter {

class IndicatorCollector final : public prometheus::Collectable {
 public:
  IndicatorCollector();

  // Replaces what is served; a family without help text gets one, since the exposition
  // format's linters require it.
  void Update(std::vector<prometheus::MetricFamily> families);
  // The text of the latest Update() ("" before any); never null.
  std::shared_ptr<const std::string> Text() const;
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Snapshot {
    std::vector<prometheus::MetricFamily> families;
    std::string text;
  };
  // The text alone, aliasing the snapshot (so Text() hands out no copy).
  static std::shared_ptr<const std::string> TextOf(std::shared_ptr<const Snapshot> snapshot);

  mutable absl::Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace civicpulse::exporter
