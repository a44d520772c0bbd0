// AggregatorApp: civicpulse-aggregator, wired. A consumer-group member on the events topic
// whose loop reads Consume (RecordRouter: decode, apply or dead-letter), then every flush
// interval Checkpoint (Checkpointer: aggregates, dead letters and the state changelog, whose
// acknowledgement the next interval's cycle collects) and Commit (at most every 5 s: see
// CheckpointAndCommit). Newly assigned partitions are restored from the changelog (StateRestorer)
// before any of their records is read; revoked ones are checkpointed before they go; lost ones
// (this member was thrown out of the group) are dropped without a word. Serves /metrics and
// /healthz. The guarantee and its failure cases: docs/delivery.md.
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
#include "checkpointer.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/kafka/producer.h"
#include "civicpulse/runtime/http_server.h"
#include "config.h"
#include "dead_letters.h"
#include "owned_partitions.h"
#include "prometheus/registry.h"
#include "record_router.h"
#include "state_restorer.h"

namespace civicpulse::aggregator {

class AggregatorApp final : public kafka::RebalanceListener {
 public:
  // `config` must have been Finish()ed.
  explicit AggregatorApp(AggregatorConfig config);
  ~AggregatorApp() override;

  // Connects to Kafka (Unavailable when it cannot be reached) and starts the HTTP server.
  absl::Status Start();
  // Consumes until Stop() or SIGINT/SIGTERM; then checkpoints, commits and leaves the group.
  // Fails when assigned partitions could not be restored within --restore-timeout.
  absl::Status Run();
  void Stop() { stop_.store(true); }
  // The bound /metrics port (after Start()).
  int port() const { return http_.port(); }

  void OnAssigned(std::vector<kafka::TopicPartition>* partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void OnLost(const std::vector<kafka::TopicPartition>& partitions) override;

 private:
  // Finishes the checkpoint cycle started last time (Kafka acknowledged it while records
  // were applied), commits what it made durable, and starts the next cycle for `partitions`.
  // `force`: instead run a whole cycle now, writing the changelog of every partition given
  // whatever its checkpoint interval, and commit what it covers (before a revocation or
  // shutdown).
  void CheckpointAndCommit(const std::vector<OwnedPartition*>& partitions, bool force = false);
  // Finishes the cycle in flight, if any (before a partition it holds is dropped or replaced).
  void FinishCycle();
  void ReportError(const std::string& what, const absl::Status& status);
  void SetProblem(std::string problem);
  // Tracks librdkafka's transient errors and recovery from them (consume thread).
  void CheckKafka();
  // Marks the consume thread as busy with `what` (a restore, a checkpoint and commit: calls
  // into Kafka) until EndWork().
  void BeginWork(std::string what);
  void EndWork();
  runtime::Health health() const;

  AggregatorConfig config_;
  std::shared_ptr<prometheus::Registry> registry_;
  AggregatorMetrics metrics_;
  uint64_t owner_;  // this incarnation's id in every lineage it starts
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<OwnedPartitions> owned_;
  std::unique_ptr<DeadLetterQueue> dead_letters_;
  std::unique_ptr<RecordRouter> router_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<StateRestorer> restorer_;
  std::unique_ptr<kafka::Consumer> consumer_;  // after owned_: its Close() revokes into it
  runtime::HttpServer http_;
  std::atomic<bool> stop_{false};
  absl::Status fatal_;  // a restore that could not be done: Run() returns it

  static constexpr absl::Duration kStuckHealthGrace = absl::Seconds(10);
  // Group offset commits (CheckpointAndCommit says why so rarely).
  static constexpr absl::Duration kCommitEvery = absl::Seconds(5);
  static constexpr absl::Duration kCommitQuiet = absl::Seconds(5);
  absl::Time next_commit_ = absl::InfinitePast();
  absl::Time last_rebalance_ = absl::InfinitePast();  // the last rebalance callback
  mutable absl::Mutex mu_;
  std::string problem_ ABSL_GUARDED_BY(mu_);  // "" when healthy
  // A Kafka connection problem librdkafka reported: kept until no error came for 15 s.
  std::string kafka_problem_ ABSL_GUARDED_BY(mu_);
  // What the consume thread is busy with and since when: work that lasts longer than
  // kStuckHealthGrace is reported on /healthz. It waits inside librdkafka calls (a restore's
  // reads, a flush, a commit waiting for the group coordinator) that can outlast their
  // timeouts while brokers are away, and meanwhile no error reaches this thread.
  std::string working_on_ ABSL_GUARDED_BY(mu_);
  absl::Time working_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time last_kafka_error_at_ = absl::InfinitePast();
  uint64_t reported_fetch_wakeups_ = 0;  // consumer_->fetch_wakeups() already counted
  std::string last_logged_error_;
  absl::Time last_logged_at_ = absl::InfinitePast();
};

// main()'s whole job: runs the aggregator until a shutdown signal.
absl::Status RunAggregator(const AggregatorConfig& config);

}  // namespace civicpulse::aggregator
