#include "app.h"

#include <time.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "civicpulse/core/status_macros.h"
#include "civicpulse/runtime/shutdown.h"
#include "indicator_metrics.h"

namespace civicpulse::exporter {
namespace {

constexpr char kProgram[] = "civicpulse-exporter";
// Records a poll returns at most.
constexpr size_t kMaxBatch = 10000;
// A merge of new aggregates comes no sooner than this many times the last merge's cost
// after it.
constexpr int kMergeCostFactor = 4;

// CPU time this thread has used. A merge's cost is measured in it, not in wall time: on a
// busy machine a merge waits for a core, and 4 times that wait held the next merge back by
// a second and more while new aggregates waited (bench/README.md, "Freshness: the
// harness's producer, and the exporter's fetcher").
absl::Duration ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

}  // namespace

ExporterApp::ExporterApp(ExporterConfig config)
    : config_(std::move(config)),
      registry_(std::make_shared<prometheus::Registry>()),
      metrics_(*registry_),
      store_(config_.indicators),
      collector_(std::make_shared<IndicatorCollector>()) {}

ExporterApp::~ExporterApp() {
  http_.Stop();
  if (consumer_ != nullptr) consumer_->Close();
}

bool ExporterApp::Stopping() const { return stop_.load() || runtime::ShutdownRequested(); }

runtime::Health ExporterApp::health() const {
  absl::MutexLock lock(&mu_);
  if (problem_.empty()) return {};
  return {.ok = false, .detail = problem_};
}

void ExporterApp::SetProblem(std::string problem) {
  absl::MutexLock lock(&mu_);
  problem_ = std::move(problem);
}

absl::Status ExporterApp::Start() {
  SetProblem("connecting to Kafka");
  http_.ServeMetrics(registry_);
  // Serialized once per merge: a scrape copies no family (IndicatorCollector).
  http_.AddExposition([collector = collector_] { return collector->Text(); });
  http_.ServeHealth([this] { return health(); });
  CIVICPULSE_RETURN_IF_ERROR(http_.Start(config_.common.listen));
  bool logged = false;
  while (!Stopping()) {
    absl::StatusOr<std::unique_ptr<kafka::Consumer>> consumer = kafka::Consumer::Create(
        config_.common.kafka,
        {.topics = {config_.aggregates_topic}, .max_batch = static_cast<int>(kMaxBatch)});
    if (consumer.ok()) {
      consumer_ = std::move(consumer).value();
      break;
    }
    // Kafka itself unreachable is fatal at start; a missing topic may still be created
    // (auto-creation on the aggregators' first publish).
    if (consumer.status().code() != absl::StatusCode::kNotFound) return consumer.status();
    SetProblem(std::string(consumer.status().message()));
    if (!logged) {
      std::cerr << kProgram << ": " << consumer.status().message() << "; waiting for it"
                << std::endl;
      logged = true;
    }
    runtime::WaitForShutdown(absl::Seconds(1));
  }
  SetProblem("");
  std::cerr << kProgram << ": reading " << config_.aggregates_topic
            << " from the beginning; /metrics on port " << http_.port() << std::endl;
  return absl::OkStatus();
}

absl::Duration ExporterApp::Merge() {
  const absl::Time start = absl::Now();
  const absl::Duration cpu_start = ThreadCpuTime();
  collector_->Update(ToMetricFamilies(store_.Compute()));
  const absl::Duration cpu = ThreadCpuTime() - cpu_start;
  const absl::Time end = absl::Now();
  metrics_.last_merge_timestamp_seconds.Set(absl::ToDoubleSeconds(end - absl::UnixEpoch()));
  metrics_.merge_duration_seconds.Set(absl::ToDoubleSeconds(end - start));
  return cpu;
}

absl::Status ExporterApp::Run() {
  if (consumer_ == nullptr) return absl::OkStatus();  // stopped while waiting for the topic
  // Merges come every merge_every at the latest, and sooner once new aggregates are read:
  // as soon as a poll finds no more (a backlog is read in full batches first), but no sooner
  // than merge_at_most_every after the last one, nor than kMergeCostFactor times its CPU
  // time (so that merges take at most a fifth of the exporter's time while a replay or a
  // backfill moves every window on every merge).
  absl::Time next_merge = absl::Now();  // the first merge at once: /metrics is never empty
  absl::Time early_merge = absl::InfinitePast();  // the soonest a merge of new aggregates may come
  bool unmerged = false;                          // aggregates applied since the last merge
  bool caught_up = true;                          // the last poll read all there was
  std::string last_error;
  while (!Stopping()) {
    absl::Time due = next_merge;
    if (unmerged && caught_up) due = std::min(due, early_merge);
    const absl::Duration wait =
        std::clamp(due - absl::Now(), absl::ZeroDuration(), absl::Milliseconds(100));
    absl::StatusOr<const std::vector<kafka::ConsumerRecord>*> batch = consumer_->Poll(wait);
    if (!batch.ok()) {
      const std::string error(batch.status().message());
      if (error != last_error) std::cerr << kProgram << ": consumer: " << error << std::endl;
      last_error = error;
      SetProblem(error);
      runtime::WaitForShutdown(absl::Seconds(1));
    } else {
      if (!last_error.empty()) {
        SetProblem("");
        last_error.clear();
      }
      caught_up = (*batch)->size() < kMaxBatch;
      uint64_t applied = 0, invalid = 0;
      for (const kafka::ConsumerRecord& record : **batch) {
        // Protobuf parses many a stray byte string; a partial aggregate also names its source
        // and has a body.
        if (!record_.ParseFromArray(record.value.data(), static_cast<int>(record.value.size())) ||
            record_.body_case() == v1::PartialAggregate::BODY_NOT_SET ||
            record_.source_topic().empty() || record_.source_partition() < 0) {
          ++invalid;
          continue;
        }
        ++applied;
        // The header is copied first: the record is moved into the reader.
        const v1::BatchHeader header = record_.batch();
        const int32_t source = record_.source_partition();
        if (!batches_.Add(source, header, std::move(record_), &batch_)) {
          continue;
        }
        if (batch_.snapshot) {
          store_.ResetSource(batch_.records.front().source_topic(), batch_.source_partition);
        }
        for (const v1::PartialAggregate& r : batch_.records) store_.Apply(r);
      }
      unmerged = unmerged || applied > 0;
      if (applied + invalid > 0) metrics_.records.Increment(static_cast<double>(applied + invalid));
      if (invalid > 0) metrics_.invalid_records.Increment(static_cast<double>(invalid));
      const core::BatchReaderStats& stats = batches_.stats();
      if (stats.fenced_records > reported_.fenced_records) {
        metrics_.fenced_records.Increment(
            static_cast<double>(stats.fenced_records - reported_.fenced_records));
      }
      if (stats.dropped_records > reported_.dropped_records) {
        metrics_.incomplete_records.Increment(
            static_cast<double>(stats.dropped_records - reported_.dropped_records));
      }
      reported_ = stats;
      if (const uint64_t rejected = store_.rejected_records(); rejected > reported_rejected_) {
        metrics_.rejected_records.Increment(static_cast<double>(rejected - reported_rejected_));
        reported_rejected_ = rejected;
      }
    }
    if (const uint64_t wakeups = consumer_->fetch_wakeups(); wakeups > reported_fetch_wakeups_) {
      metrics_.fetch_wakeups.Increment(static_cast<double>(wakeups - reported_fetch_wakeups_));
      reported_fetch_wakeups_ = wakeups;
    }
    const absl::Time now = absl::Now();
    if (now >= next_merge || (unmerged && caught_up && now >= early_merge)) {
      const absl::Duration cost = Merge();
      const absl::Time end = absl::Now();
      next_merge = end + config_.merge_every;
      early_merge = std::min(next_merge,
                             end + std::max(config_.merge_at_most_every, kMergeCostFactor * cost));
      unmerged = false;
    }
  }
  std::cerr << kProgram << ": shutting down" << std::endl;
  consumer_->Close();
  http_.Stop();
  return absl::OkStatus();
}

absl::Status RunExporter(const ExporterConfig& config) {
  runtime::InstallShutdownHandlers();
  ExporterApp app(config);
  CIVICPULSE_RETURN_IF_ERROR(app.Start());
  return app.Run();
}

}  // namespace civicpulse::exporter
