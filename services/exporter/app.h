// ExporterApp: civicpulse-exporter. Reads every partition of the aggregates topic from the
// beginning (manual assignment, no consumer group), reassembles each source partition's
// batches (core::BatchReader: only complete batches of the current lineage; a snapshot batch
// replaces the source partition's state, so a restart rebuilds exactly the same indicators
// from whatever the topic retains), applies them to an IndicatorStore, and recomputes the
// indicators (incrementally: core/indicator_store.h) once it has read all the new
// aggregates there are (no sooner than --min-merge-interval and 4 times the CPU time of the
// last merge after it, at least every --merge-interval), names them
// (IndicatorMetrics) and swaps them, serialized once, into the IndicatorCollector that
// /metrics serves.
//
// Start() and Run() are called from one thread; Stop() may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "civicpulse/core/batch_reader.h"
#include "civicpulse/core/indicator_store.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/runtime/http_server.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "config.h"
#include "exporter_metrics.h"
#include "indicator_collector.h"
#include "prometheus/registry.h"

namespace civicpulse::exporter {

class ExporterApp {
 public:
  // `config` must have been Finish()ed.
  explicit ExporterApp(ExporterConfig config);
  ~ExporterApp();

  // Serves HTTP, then connects to Kafka (Unavailable when it cannot be reached). Waits while
  // the aggregates topic does not exist yet.
  absl::Status Start();
  // Reads and merges until Stop() or SIGINT/SIGTERM.
  absl::Status Run();
  void Stop() { stop_.store(true); }
  int port() const { return http_.port(); }

 private:
  bool Stopping() const;
  // Recomputes the indicators and swaps them in; returns the CPU time that took.
  absl::Duration Merge();
  runtime::Health health() const;
  void SetProblem(std::string problem);

  ExporterConfig config_;
  std::shared_ptr<prometheus::Registry> registry_;
  ExporterMetrics metrics_;
  core::IndicatorStore store_;
  std::shared_ptr<IndicatorCollector> collector_;
  v1::PartialAggregate record_;  // reused for every record
  core::BatchReader<v1::PartialAggregate> batches_;
  core::BatchReader<v1::PartialAggregate>::Batch batch_;
  core::BatchReaderStats reported_;  // batches_.stats() already added to the metrics
  uint64_t reported_rejected_ = 0;   // store_.rejected_records() already added
  uint64_t reported_fetch_wakeups_ = 0;  // consumer_->fetch_wakeups() already counted
  std::unique_ptr<kafka::Consumer> consumer_;
  runtime::HttpServer http_;
  std::atomic<bool> stop_{false};

  mutable absl::Mutex mu_;
  std::string problem_ ABSL_GUARDED_BY(mu_);  // "" when healthy
};

// main()'s whole job: runs the exporter until a shutdown signal.
absl::Status RunExporter(const ExporterConfig& config);

}  // namespace civicpulse::exporter
