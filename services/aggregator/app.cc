#include "app.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "civicpulse/core/status_macros.h"
#include "civicpulse/runtime/shutdown.h"

namespace civicpulse::aggregator {
namespace {

constexpr char kProgram[] = "civicpulse-aggregator";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

AggregatorApp::AggregatorApp(AggregatorConfig config)
    : config_(std::move(config)),
      registry_(std::make_shared<prometheus::Registry>()),
      metrics_(*registry_) {}

AggregatorApp::~AggregatorApp() {
  http_.Stop();
  // Leave the group (revoking into owned_) while every member is still alive.
  if (consumer_ != nullptr) consumer_->Close();
}

absl::Status AggregatorApp::Start() {
  // Connect the producer first: a revocation during start-up already needs it.
  CIVICPULSE_ASSIGN_OR_RETURN(producer_, kafka::Producer::Create(config_.common.kafka));
  owned_ = std::make_unique<OwnedPartitions>(
      OwnedPartitionsOptions{.topic = config_.topic,
                             .dlq_topic = config_.dlq_topic,
                             .aggregates_topic = config_.aggregates_topic,
                             .instance_id = config_.instance_id,
                             .engine = config_.engine,
                             .areas = config_.areas},
      producer_.get(), &metrics_);
  CIVICPULSE_ASSIGN_OR_RETURN(
      consumer_, kafka::Consumer::Create(config_.common.kafka,
                                         {.topics = {config_.topic},
                                          .group_id = config_.group,
                                          .listener = this,
                                          .max_batch = 10000}));
  http_.ServeMetrics(registry_);
  http_.ServeHealth([this] { return health(); });
  CIVICPULSE_RETURN_IF_ERROR(http_.Start(config_.common.listen));
  std::cerr << kProgram << ": instance " << config_.instance_id << " consuming "
            << config_.topic << " in group " << config_.group << "; /metrics on port "
            << http_.port() << std::endl;
  return absl::OkStatus();
}

runtime::Health AggregatorApp::health() const {
  absl::MutexLock lock(&mu_);
  if (fatal_error_.empty()) return {};
  return {.ok = false, .detail = fatal_error_};
}

void AggregatorApp::ReportError(const std::string& what, const absl::Status& status) {
  // The same error repeats every cycle while Kafka is away: log changes, and at most every
  // 30 s otherwise.
  const std::string line = absl::StrCat(what, ": ", status.message());
  const absl::Time now = absl::Now();
  if (line == last_logged_error_ && now - last_logged_at_ < absl::Seconds(30)) return;
  last_logged_error_ = line;
  last_logged_at_ = now;
  std::cerr << kProgram << ": " << line << std::endl;
}

absl::Status AggregatorApp::Run() {
  absl::Time next_flush = absl::Now() + config_.flush_every;
  absl::Time next_republish = absl::Now() + config_.republish_every;
  auto high_watermark = [this](int32_t partition) {
    return consumer_->HighWatermark(config_.topic, partition);
  };
  while (!stop_.load() && !runtime::ShutdownRequested()) {
    absl::StatusOr<const std::vector<kafka::ConsumerRecord>*> batch =
        consumer_->Poll(absl::Milliseconds(100));
    if (!batch.ok()) {
      {
        absl::MutexLock lock(&mu_);
        fatal_error_ = std::string(batch.status().message());
      }
      ReportError("consumer", batch.status());
      runtime::WaitForShutdown(absl::Seconds(1));
    } else {
      {
        absl::MutexLock lock(&mu_);
        fatal_error_.clear();
      }
      if (!(*batch)->empty()) owned_->Consume(**batch, NowMs());
    }
    const absl::Time now = absl::Now();
    if (now >= next_flush) {
      const bool all_cells = now >= next_republish;
      PublishAndCommit(nullptr, all_cells);
      owned_->UpdateHealthMetrics(NowMs(), high_watermark);
      if (all_cells) next_republish = now + config_.republish_every;
      next_flush = now + config_.flush_every;
    }
  }
  std::cerr << kProgram << ": shutting down: publishing and committing" << std::endl;
  PublishAndCommit(nullptr, false);
  consumer_->Close();  // revokes every partition through OnRevoked, then leaves the group
  http_.Stop();
  return absl::OkStatus();
}

void AggregatorApp::PublishAndCommit(const std::vector<int32_t>* partitions, bool all_cells) {
  absl::StatusOr<std::vector<kafka::TopicPartition>> offsets =
      owned_->Publish(partitions, all_cells, NowMs());
  if (!offsets.ok()) {
    metrics_.publish_failures.Increment();
    ReportError("publishing aggregates (offsets not committed)", offsets.status());
    return;
  }
  if (offsets->empty()) return;
  if (absl::Status s = consumer_->Commit(*offsets); !s.ok()) {
    ReportError("committing offsets", s);
    return;
  }
  owned_->MarkCommitted(*offsets);
}

void AggregatorApp::OnAssigned(std::vector<kafka::TopicPartition>* partitions) {
  std::vector<int32_t> numbers;
  const int64_t now_ms = NowMs();
  for (kafka::TopicPartition& tp : *partitions) {
    if (tp.topic != config_.topic) continue;
    // Rebuild the partition's state from its earliest retained record (no checkpoint yet).
    tp.offset = kafka::kOffsetBeginning;
    owned_->Assign(tp.partition, now_ms);
    numbers.push_back(tp.partition);
  }
  std::cerr << kProgram << ": assigned partitions [" << absl::StrJoin(numbers, ",")
            << "], now owning " << owned_->size() << std::endl;
}

void AggregatorApp::OnRevoked(const std::vector<kafka::TopicPartition>& partitions) {
  std::vector<int32_t> numbers;
  for (const kafka::TopicPartition& tp : partitions) {
    if (tp.topic == config_.topic && owned_->Owns(tp.partition)) {
      numbers.push_back(tp.partition);
    }
  }
  if (numbers.empty()) return;
  PublishAndCommit(&numbers, false);
  for (int32_t number : numbers) owned_->Drop(number);
  std::cerr << kProgram << ": revoked partitions [" << absl::StrJoin(numbers, ",")
            << "], now owning " << owned_->size() << std::endl;
}

absl::Status RunAggregator(const AggregatorConfig& config) {
  runtime::InstallShutdownHandlers();
  AggregatorApp app(config);
  CIVICPULSE_RETURN_IF_ERROR(app.Start());
  return app.Run();
}

}  // namespace civicpulse::aggregator
