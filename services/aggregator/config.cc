#include "config.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "civicpulse/core/status_macros.h"
#include "civicpulse/runtime/areas_file.h"

namespace civicpulse::aggregator {

void AggregatorConfig::AddFlags(CLI::App* app) {
  runtime::AddCommonFlags(app, &common, kDefaultListen);
  app->add_option("--group", group, "Kafka consumer group of the aggregators")
      ->capture_default_str();
  app->add_option("--topic", topic, "Events topic")->capture_default_str();
  app->add_option("--dlq-topic", dlq_topic, "Dead-letter topic for rejected events")
      ->capture_default_str();
  app->add_option("--aggregates-topic", aggregates_topic,
                  "Topic of the partial aggregates read by the exporter")
      ->capture_default_str();
  app->add_option("--allowed-lateness", allowed_lateness,
                  "Watermark = largest event time seen minus this")
      ->capture_default_str();
  app->add_option("--grace", grace, "Events older than watermark minus this are late")
      ->capture_default_str();
  app->add_option("--idle-timeout", idle_timeout,
                  "A partition silent this long has its watermark advanced by wall-clock time")
      ->capture_default_str();
  app->add_option("--changelog-topic", changelog_topic,
                  "Topic of the aggregators' state checkpoints (docs/delivery.md)")
      ->capture_default_str();
  app->add_option("--flush-interval", flush_interval,
                  "How often changed aggregates are published, state checkpointed and "
                  "offsets committed")
      ->capture_default_str();
  app->add_option("--checkpoint-interval", checkpoint_interval,
                  "How often the state is written to the changelog and offsets committed "
                  "(default: every flush). Longer: fewer changelog bytes on a dense stream, "
                  "more events read again after a crash (docs/delivery.md)");
  app->add_option("--snapshot-interval", snapshot_interval,
                  "Each partition writes a full snapshot of its aggregates and state at "
                  "least this often (besides when its deltas outweigh its last snapshot)")
      ->capture_default_str();
  app->add_option("--snapshot-bytes", snapshot_bytes,
                  "Deltas written since a partition's last snapshot that call for a new one "
                  "(at least; a larger last snapshot raises it)")
      ->capture_default_str();
  app->add_option("--max-record-bytes", max_record_bytes,
                  "Largest record produced: dead letters are cut to fit, state snapshots "
                  "split (keep under the topics' max.message.bytes)")
      ->capture_default_str();
  app->add_option("--restore-timeout", restore_timeout,
                  "How long restoring assigned partitions from the changelog may take "
                  "before the instance gives up and exits")
      ->capture_default_str();
  app->add_option("--areas-file", areas_file,
                  "CSV area,residents: the allowed area labels (others fold into \"other\")");
  app->add_option("--max-areas", max_areas,
                  "Without an areas file, the first N areas applied in each partition keep their "
                  "name; the rest are sent as \"other\" (docs/reference.md, \"Area labels\")")
      ->capture_default_str();
  app->add_flag("--no-checkpoints", no_checkpoints,
                "Benchmarks only: keep state in memory, write and restore no changelog "
                "(a restart or rebalance then replays the events topic from its start)")
      ->group("");  // hidden: it gives up the durability docs/delivery.md promises
  app->add_option("--instance-id", instance_id,
                  "Name of this instance in published aggregates (default hostname-pid)");
  app->add_option("--apply-threads", apply_threads,
                  "Threads that decode and apply records, the consume thread included; each "
                  "batch's partitions are dealt between them (default 0: one per usable "
                  "core, at most 4)");
}

absl::Status ParseDurationFlag(const std::string& flag, const std::string& text,
                               absl::Duration* out) {
  if (!absl::ParseDuration(text, out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", text, "\" is not a duration (examples: 500ms, 90s, 5m, 1h)"));
  }
  return absl::OkStatus();
}

std::string DefaultInstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    return absl::StrCat("aggregator-", getpid());
  }
  return absl::StrCat(host, "-", getpid());
}

absl::Status AggregatorConfig::Finish() {
  CIVICPULSE_RETURN_IF_ERROR(runtime::FinishCommonFlags(&common));
  absl::Duration lateness, grace_d, idle;
  CIVICPULSE_RETURN_IF_ERROR(ParseDurationFlag("--allowed-lateness", allowed_lateness, &lateness));
  CIVICPULSE_RETURN_IF_ERROR(ParseDurationFlag("--grace", grace, &grace_d));
  CIVICPULSE_RETURN_IF_ERROR(ParseDurationFlag("--idle-timeout", idle_timeout, &idle));
  CIVICPULSE_RETURN_IF_ERROR(ParseDurationFlag("--flush-interval", flush_interval, &flush_every));
  CIVICPULSE_RETURN_IF_ERROR(
      ParseDurationFlag("--snapshot-interval", snapshot_interval, &snapshot_every));
  checkpoint_every = flush_every;
  if (!checkpoint_interval.empty()) {
    CIVICPULSE_RETURN_IF_ERROR(
        ParseDurationFlag("--checkpoint-interval", checkpoint_interval, &checkpoint_every));
  }
  CIVICPULSE_RETURN_IF_ERROR(
      ParseDurationFlag("--restore-timeout", restore_timeout, &restore_within));
  if (lateness < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--allowed-lateness must not be negative");
  }
  if (grace_d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--grace must not be negative");
  }
  if (idle <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--idle-timeout must be positive");
  }
  if (flush_every < absl::Milliseconds(10) || flush_every > absl::Minutes(10)) {
    return absl::InvalidArgumentError("--flush-interval must be between 10ms and 10m");
  }
  if (snapshot_every < flush_every) {
    return absl::InvalidArgumentError("--snapshot-interval must be >= --flush-interval");
  }
  if (checkpoint_every < flush_every || checkpoint_every > snapshot_every) {
    return absl::InvalidArgumentError(
        "--checkpoint-interval must be between --flush-interval and --snapshot-interval");
  }
  if (restore_within < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--restore-timeout must be at least 1s");
  }
  if (snapshot_bytes < 1024) {
    return absl::InvalidArgumentError("--snapshot-bytes must be at least 1024");
  }
  if (max_record_bytes < 64 * 1024 || max_record_bytes > 100 * 1024 * 1024) {
    return absl::InvalidArgumentError("--max-record-bytes must be 65536..104857600");
  }
  if (apply_threads < 0 || apply_threads > 64) {
    return absl::InvalidArgumentError("--apply-threads must be 0..64");
  }
  if (apply_threads == 0) {
    // The cores this process may run on (taskset, a cpuset), not all the machine's.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    const int usable = sched_getaffinity(0, sizeof(cpus), &cpus) == 0
                           ? CPU_COUNT(&cpus)
                           : static_cast<int>(std::thread::hardware_concurrency());
    apply_threads = std::clamp(usable, 1, kMaxDefaultApplyThreads);
  }
  if (max_areas < 1 || max_areas > 100000) {
    return absl::InvalidArgumentError("--max-areas must be 1..100000");
  }
  if (group.empty()) return absl::InvalidArgumentError("--group must not be empty");
  if (topic.empty() || dlq_topic.empty() || aggregates_topic.empty() ||
      changelog_topic.empty()) {
    return absl::InvalidArgumentError("topic names must not be empty");
  }
  if (topic == aggregates_topic || topic == dlq_topic || dlq_topic == aggregates_topic ||
      changelog_topic == topic || changelog_topic == dlq_topic ||
      changelog_topic == aggregates_topic) {
    return absl::InvalidArgumentError(
        "--topic, --dlq-topic, --aggregates-topic and --changelog-topic must be four "
        "different topics");
  }
  engine.allowed_lateness_ms = absl::ToInt64Milliseconds(lateness);
  engine.grace_ms = absl::ToInt64Milliseconds(grace_d);
  engine.idle_timeout_ms = absl::ToInt64Milliseconds(idle);
  areas.max_areas = static_cast<size_t>(max_areas);
  areas.allowed.clear();
  if (!areas_file.empty()) {
    CIVICPULSE_ASSIGN_OR_RETURN(core::AreaList list, runtime::ReadAreaList(areas_file));
    if (list.areas.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("areas file ", areas_file, " lists no area"));
    }
    areas.allowed = std::move(list.areas);
  }
  if (instance_id.empty()) instance_id = DefaultInstanceId();
  return absl::OkStatus();
}

}  // namespace civicpulse::aggregator
