#include "app.h"

#include <iostream>
#include <random>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "civicpulse/core/status_macros.h"
#include "civicpulse/runtime/shutdown.h"

namespace civicpulse::aggregator {
namespace {

constexpr char kProgram[] = "civicpulse-aggregator";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

uint64_t RandomOwnerId() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device() ^ static_cast<uint64_t>(NowMs());
}

}  // namespace

AggregatorApp::AggregatorApp(AggregatorConfig config)
    : config_(std::move(config)),
      registry_(std::make_shared<prometheus::Registry>()),
      metrics_(*registry_),
      owner_(RandomOwnerId()) {}

AggregatorApp::~AggregatorApp() {
  http_.Stop();
  // Leave the group (revoking into owned_) while every member is still alive.
  if (consumer_ != nullptr) consumer_->Close();
}

absl::Status AggregatorApp::Start() {
  // Connect the producer first: a revocation during start-up already needs it.
  // lz4: snapshots and deltas (protobuf with sketches) shrink by a third to a half on the
  // wire and in the broker's retention, for little CPU; -X compression.type= overrides.
  CIVICPULSE_ASSIGN_OR_RETURN(
      producer_, kafka::Producer::Create(config_.common.kafka, {.compression = "lz4"}));
  CIVICPULSE_ASSIGN_OR_RETURN(int aggregates_partitions,
                              producer_->PartitionCount(config_.aggregates_topic,
                                                        absl::Seconds(10)));
  CIVICPULSE_ASSIGN_OR_RETURN(int changelog_partitions,
                              producer_->PartitionCount(config_.changelog_topic,
                                                        absl::Seconds(10)));
  owned_ = std::make_unique<OwnedPartitions>(config_.topic, config_.engine, config_.areas,
                                             &metrics_);
  owned_->set_checkpoints(!config_.no_checkpoints);
  dead_letters_ = std::make_unique<DeadLetterQueue>(
      config_.dlq_topic, static_cast<size_t>(config_.max_record_bytes), &metrics_);
  router_ = std::make_unique<RecordRouter>(owned_.get(), dead_letters_.get(), &metrics_,
                                           config_.apply_threads);
  checkpointer_ = std::make_unique<Checkpointer>(
      CheckpointerOptions{.topic = config_.topic,
                          .aggregates_topic = config_.aggregates_topic,
                          .aggregates_partitions = aggregates_partitions,
                          .changelog_topic = config_.changelog_topic,
                          .changelog_partitions = changelog_partitions,
                          // Cycles come every flush interval, a little late: half of one
                          // is slack, so that a 10 s interval means every 10th cycle, and
                          // the default (one flush) every cycle.
                          .checkpoint_interval = config_.checkpoint_every - config_.flush_every / 2,
                          .changelog = !config_.no_checkpoints,
                          .instance_id = config_.instance_id,
                          .snapshot_min_bytes = static_cast<size_t>(config_.snapshot_bytes),
                          .snapshot_interval = config_.snapshot_every,
                          .max_piece_bytes = static_cast<size_t>(config_.max_record_bytes) / 2},
      producer_.get(), dead_letters_.get(), &metrics_);
  restorer_ = std::make_unique<StateRestorer>(config_.common.kafka, config_.topic,
                                              config_.changelog_topic, changelog_partitions,
                                              owned_.get());
  CIVICPULSE_ASSIGN_OR_RETURN(
      consumer_, kafka::Consumer::Create(config_.common.kafka,
                                         {.topics = {config_.topic},
                                          .group_id = config_.group,
                                          .listener = this,
                                          .max_batch = 10000}));
  http_.ServeMetrics(registry_);
  http_.AddCollectable(metrics_.outcomes);
  http_.ServeHealth([this] { return health(); });
  CIVICPULSE_RETURN_IF_ERROR(http_.Start(config_.common.listen));
  std::cerr << kProgram << ": instance " << config_.instance_id << " consuming "
            << config_.topic << " in group " << config_.group << ", checkpointing to "
            << config_.changelog_topic << "; /metrics on port " << http_.port() << std::endl;
  return absl::OkStatus();
}

runtime::Health AggregatorApp::health() const {
  absl::MutexLock lock(&mu_);
  if (const absl::Duration working = absl::Now() - working_since_; working > kStuckHealthGrace) {
    return {.ok = false,
            .detail = absl::StrCat(working_on_, ": waiting on Kafka for ",
                                   absl::FormatDuration(absl::Trunc(working, absl::Seconds(1))))};
  }
  if (!problem_.empty()) return {.ok = false, .detail = problem_};
  if (!kafka_problem_.empty()) return {.ok = false, .detail = "kafka: " + kafka_problem_};
  return {};
}

void AggregatorApp::CheckKafka() {
  // librdkafka reports connection errors (and retries by itself); the instance is unhealthy
  // until 15 s pass without one. Records arriving do not end it sooner: they may be records
  // fetched before the brokers went away, still in librdkafka's queue, and librdkafka
  // reports a repeated error only once, so a cleared problem would stay cleared through the
  // outage. (A probe request would block the consume loop while brokers are down.)
  std::vector<std::string> errors = consumer_->TakeTransientErrors();
  const uint64_t wakeups = consumer_->fetch_wakeups();
  metrics_.fetch_wakeups.Increment(static_cast<double>(wakeups - reported_fetch_wakeups_));
  reported_fetch_wakeups_ = wakeups;
  const absl::Time now = absl::Now();
  if (!errors.empty()) {
    last_kafka_error_at_ = now;
    ReportError("kafka (librdkafka retries)", absl::UnavailableError(errors.back()));
  }
  absl::MutexLock lock(&mu_);
  if (!errors.empty()) {
    kafka_problem_ = errors.back();
  } else if (now - last_kafka_error_at_ > absl::Seconds(15)) {
    kafka_problem_.clear();
  }
}

void AggregatorApp::BeginWork(std::string what) {
  absl::MutexLock lock(&mu_);
  working_on_ = std::move(what);
  working_since_ = absl::Now();
}

void AggregatorApp::EndWork() {
  absl::MutexLock lock(&mu_);
  working_on_.clear();
  working_since_ = absl::InfiniteFuture();
}

void AggregatorApp::SetProblem(std::string problem) {
  absl::MutexLock lock(&mu_);
  problem_ = std::move(problem);
}

void AggregatorApp::ReportError(const std::string& what, const absl::Status& status) {
  // The same error repeats every cycle while Kafka is away: log changes, and at most every
  // 30 s otherwise.
  const std::string line = absl::StrCat(what, ": ", status.message());
  SetProblem(line);
  const absl::Time now = absl::Now();
  if (line == last_logged_error_ && now - last_logged_at_ < absl::Seconds(30)) return;
  last_logged_error_ = line;
  last_logged_at_ = now;
  std::cerr << kProgram << ": " << line << std::endl;
}

absl::Status AggregatorApp::Run() {
  absl::Time next_checkpoint = absl::Now() + config_.flush_every;
  auto high_watermark = [this](int32_t partition) {
    return consumer_->HighWatermark(config_.topic, partition);
  };
  while (!stop_.load() && !runtime::ShutdownRequested()) {
    absl::StatusOr<const std::vector<kafka::ConsumerRecord>*> batch =
        consumer_->Poll(absl::Milliseconds(100));
    if (!fatal_.ok()) break;
    if (!batch.ok()) {
      ReportError("consumer", batch.status());
      runtime::WaitForShutdown(absl::Seconds(1));
    } else if (!(*batch)->empty()) {
      router_->Route(**batch, NowMs());
    }
    const absl::Time now = absl::Now();
    if (now >= next_checkpoint) {
      CheckKafka();
      CheckpointAndCommit(owned_->All());
      owned_->UpdateHealthMetrics(NowMs(), high_watermark);
      next_checkpoint = now + config_.flush_every;
    }
  }
  if (!fatal_.ok()) {
    http_.Stop();
    return fatal_;
  }
  std::cerr << kProgram << ": shutting down: checkpointing and committing" << std::endl;
  CheckpointAndCommit(owned_->All(), /*force=*/true);
  consumer_->Close();  // revokes every partition through OnRevoked, then leaves the group
  http_.Stop();
  return absl::OkStatus();
}

void AggregatorApp::CheckpointAndCommit(const std::vector<OwnedPartition*>& partitions,
                                        bool force) {
  BeginWork("checkpointing and committing");
  absl::Cleanup done = [this] { EndWork(); };
  // The cycle started last time was acknowledged while records were applied (or is waited
  // for now). A regular cycle commits what it covers and starts the next one, which the next
  // call finishes; before partitions go, and at shutdown, a whole cycle runs and what it
  // covers is committed.
  absl::StatusOr<std::vector<kafka::TopicPartition>> offsets = checkpointer_->Finish();
  if (force) {
    if (!offsets.ok()) {
      ReportError("checkpointing (offsets not committed; retrying)", offsets.status());
    }
    offsets = checkpointer_->Run(partitions, NowMs(), force);
  } else if (absl::Status started = checkpointer_->Start(partitions, NowMs());
             !started.ok() && offsets.ok()) {
    ReportError("checkpointing (offsets not committed; retrying)", started);
    return;
  }
  if (!offsets.ok()) {
    ReportError("checkpointing (offsets not committed; retrying)", offsets.status());
    return;
  }
  SetProblem("");
  if (offsets->empty()) return;
  // The changelog is the source of truth for where to resume; the group's committed offsets
  // follow it so that Kafka's own lag tools see the progress. A commit that reaches the
  // coordinator while the group rebalances fails with an illegal generation, and librdkafka
  // then declares this member's whole assignment lost and rejoins, which starts the next
  // rebalance for every member: committing each flush kept three members in such a storm for
  // minutes (chaos_stream). So commit every kCommitEvery and not within kCommitQuiet of a
  // rebalance seen here (cooperative rebalances come in two rounds); before partitions go, or
  // at shutdown, always.
  const absl::Time now = absl::Now();
  if (!force && (now < next_commit_ || now < last_rebalance_ + kCommitQuiet)) return;
  next_commit_ = now + kCommitEvery;
  const absl::Status committed = consumer_->Commit(*offsets);
  metrics_.commit_step_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - now));
  if (absl::Status s = committed; !s.ok()) {
    ReportError("committing offsets", s);
    return;
  }
  Checkpointer::MarkCommitted(*offsets, owned_.get());
}

void AggregatorApp::FinishCycle() {
  if (!checkpointer_->pending()) return;
  BeginWork("waiting for the last checkpoint cycle");
  absl::Cleanup done = [this] { EndWork(); };
  if (absl::StatusOr<std::vector<kafka::TopicPartition>> s = checkpointer_->Finish(); !s.ok()) {
    ReportError("checkpointing (offsets not committed; retrying)", s.status());
  }
}

void AggregatorApp::OnAssigned(std::vector<kafka::TopicPartition>* partitions) {
  last_rebalance_ = absl::Now();
  std::vector<int32_t> numbers;
  for (const kafka::TopicPartition& tp : *partitions) {
    if (tp.topic != config_.topic) continue;
    numbers.push_back(tp.partition);
    // Assigning replaces a partition still held (the cycle in flight may point at it).
    if (owned_->Owns(tp.partition)) FinishCycle();
  }
  if (numbers.empty()) return;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + config_.restore_within;
  BeginWork(absl::StrCat("restoring partitions [", absl::StrJoin(numbers, ","), "] from ",
                         config_.changelog_topic));
  absl::Cleanup restore_done = [this] { EndWork(); };
  absl::StatusOr<std::vector<RestoredPartition>> restored;
  StateRestorerStats stats;
  if (config_.no_checkpoints) {  // benchmarks: every partition starts afresh
    restored.emplace();
    for (int32_t n : numbers) {
      restored->push_back(
          {.partition = n, .engine = owned_->NewEngine(), .next_offset = kafka::kOffsetBeginning});
    }
  }
  while (!restored.ok()) {  // a default StatusOr is not ok
    restored = restorer_->Restore(numbers, NowMs(), deadline - absl::Now(), &stats);
    if (restored.ok() || absl::Now() + absl::Seconds(1) >= deadline ||
        stop_.load() || runtime::ShutdownRequested()) {
      break;
    }
    metrics_.restore_failures.Increment();
    ReportError("restoring assigned partitions (retrying)", restored.status());
    runtime::WaitForShutdown(absl::Seconds(1));
  }
  if (!restored.ok()) {
    // Consuming without the state would count history again or lose it: stop, and let a
    // restart (or another member) take the partitions.
    metrics_.restore_failures.Increment();
    fatal_ = absl::UnavailableError(absl::StrCat(
        "cannot restore partitions [", absl::StrJoin(numbers, ","), "] from ",
        config_.changelog_topic, ": ", restored.status().message()));
    stop_.store(true);
    for (kafka::TopicPartition& tp : *partitions) tp.offset = kafka::kOffsetStored;
    return;
  }
  const int64_t now_ms = NowMs();
  int from_checkpoint = 0;
  for (RestoredPartition& r : *restored) {
    // A later epoch than any seen; wall-clock milliseconds keep it above an owner that never
    // got to write (clocks agree far better than the group's session timeout).
    const Lineage lineage{.epoch = std::max(r.max_epoch + 1, now_ms), .owner = owner_};
    owned_->Assign(r.partition, std::move(r.engine),
                   r.from_checkpoint ? r.next_offset : -1, lineage, now_ms);
    if (r.from_checkpoint) {
      ++from_checkpoint;
      metrics_.restored_partitions.Increment();
    }
    for (kafka::TopicPartition& tp : *partitions) {
      if (tp.topic == config_.topic && tp.partition == r.partition) {
        tp.offset = r.from_checkpoint ? r.next_offset : kafka::kOffsetBeginning;
      }
    }
  }
  last_rebalance_ = absl::Now();
  metrics_.restore_fenced_records.Increment(static_cast<double>(stats.fenced_records));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  metrics_.restore_duration_seconds.Set(seconds);
  std::cerr << kProgram << ": assigned partitions [" << absl::StrJoin(numbers, ",")
            << "]: " << from_checkpoint << " restored from the changelog (" << stats.records
            << " records read, " << stats.fenced_records << " fenced) in " << seconds
            << " s; now owning " << owned_->size() << std::endl;
}

void AggregatorApp::OnRevoked(const std::vector<kafka::TopicPartition>& partitions) {
  std::vector<int32_t> numbers;
  std::vector<OwnedPartition*> going;
  for (const kafka::TopicPartition& tp : partitions) {
    if (tp.topic != config_.topic) continue;
    if (OwnedPartition* p = owned_->Find(tp.partition)) {
      numbers.push_back(tp.partition);
      going.push_back(p);
    }
  }
  last_rebalance_ = absl::Now();
  if (numbers.empty()) return;
  CheckpointAndCommit(going, /*force=*/true);
  for (int32_t number : numbers) owned_->Drop(number);
  std::cerr << kProgram << ": revoked partitions [" << absl::StrJoin(numbers, ",")
            << "], now owning " << owned_->size() << std::endl;
}

void AggregatorApp::OnLost(const std::vector<kafka::TopicPartition>& partitions) {
  last_rebalance_ = absl::Now();
  // Another member may own them already: writing now would be a zombie's write (readers
  // would fence it anyway; not writing at all is cleaner). A cycle still in flight may hold
  // them: it ends first (what it covers is committed by a later cycle, if still owned).
  FinishCycle();
  std::vector<int32_t> numbers;
  for (const kafka::TopicPartition& tp : partitions) {
    if (tp.topic == config_.topic && owned_->Owns(tp.partition)) {
      numbers.push_back(tp.partition);
      owned_->Drop(tp.partition);
    }
  }
  if (numbers.empty()) return;
  std::cerr << kProgram << ": lost partitions [" << absl::StrJoin(numbers, ",")
            << "] (thrown out of the group); dropped without writing, now owning "
            << owned_->size() << std::endl;
}

absl::Status RunAggregator(const AggregatorConfig& config) {
  runtime::InstallShutdownHandlers();
  AggregatorApp app(config);
  CIVICPULSE_RETURN_IF_ERROR(app.Start());
  return app.Run();
}

}  // namespace civicpulse::aggregator
