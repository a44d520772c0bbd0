// AggregatorApp: civicpulse-aggregator. A consumer-group member on the events topic that keeps
// one PartitionAggregator per owned partition (OwnedPartitions), publishes partial aggregates
// every flush interval, and commits consumed offsets only after Kafka acknowledged the
// aggregates (and dead letters) that cover them. Serves /metrics and /healthz.
//
// Start() and Run() are called from one thread, which also receives the rebalance callbacks;
// Stop() may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "aggregator_metrics.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/kafka/producer.h"
#include "civicpulse/runtime/http_server.h"
#include "config.h"
#include "owned_partitions.h"
#include "prometheus/registry.h"

namespace civicpulse::aggregator {

class AggregatorApp final : public kafka::RebalanceListener {
 public:
  // `config` must have been Finish()ed.
  explicit AggregatorApp(AggregatorConfig config);
  ~AggregatorApp() override;

  // Connects to Kafka (Unavailable when it cannot be reached) and starts the HTTP server.
  absl::Status Start();
  // Consumes until Stop() or SIGINT/SIGTERM; then publishes, commits and leaves the group.
  absl::Status Run();
  void Stop() { stop_.store(true); }
  // The bound /metrics port (after Start()).
  int port() const { return http_.port(); }

  void OnAssigned(std::vector<kafka::TopicPartition>* partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override;

 private:
  void PublishAndCommit(const std::vector<int32_t>* partitions, bool all_cells);
  void ReportError(const std::string& what, const absl::Status& status);
  runtime::Health health() const;

  AggregatorConfig config_;
  std::shared_ptr<prometheus::Registry> registry_;
  AggregatorMetrics metrics_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<OwnedPartitions> owned_;
  std::unique_ptr<kafka::Consumer> consumer_;  // after owned_: its Close() revokes into it
  runtime::HttpServer http_;
  std::atomic<bool> stop_{false};

  mutable absl::Mutex mu_;
  std::string fatal_error_ ABSL_GUARDED_BY(mu_);  // consumer fatal error, "" when none
  std::string last_logged_error_;
  absl::Time last_logged_at_ = absl::InfinitePast();
};

// main()'s whole job: runs the aggregator until a shutdown signal.
absl::Status RunAggregator(const AggregatorConfig& config);

}  // namespace civicpulse::aggregator
