// AggregatorConfig: civicpulse-aggregator's flags with their defaults, and their validation.
// AddFlags registers them on a CLI11 app; Finish() (after parsing) applies the common flags,
// parses the durations ("5m", "1h", "90s", "500ms"), reads the areas file and validates.
// Plain data, thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "civicpulse/core/engine_options.h"
#include "civicpulse/kafka/client_config.h"
#include "civicpulse/runtime/common_flags.h"

namespace civicpulse::aggregator {

inline constexpr char kDefaultListen[] = "0.0.0.0:9401";

struct AggregatorConfig {
  runtime::CommonFlags common;
  std::string group = "civicpulse-aggregator";                // --group
  std::string topic = kafka::kEventsTopic;                    // --topic
  std::string dlq_topic = kafka::kDeadLetterTopic;            // --dlq-topic
  std::string aggregates_topic = kafka::kAggregatesTopic;     // --aggregates-topic
  std::string allowed_lateness = "5m";                        // --allowed-lateness
  std::string grace = "1h";                                   // --grace
  std::string idle_timeout = "1m";                            // --idle-timeout
  std::string changelog_topic = kafka::kChangelogTopic;       // --changelog-topic
  std::string flush_interval = "1s";                          // --flush-interval
  std::string checkpoint_interval;                            // --checkpoint-interval
  std::string snapshot_interval = "10m";                      // --snapshot-interval
  int64_t snapshot_bytes = 1 << 20;                           // --snapshot-bytes
  int64_t max_record_bytes = 900'000;                         // --max-record-bytes
  std::string restore_timeout = "60s";                        // --restore-timeout
  std::string areas_file;                                     // --areas-file (optional)
  int max_areas = 500;                                        // --max-areas
  std::string instance_id;                                    // --instance-id: hostname-pid
  // --apply-threads: threads that decode and apply records, the consume thread's included
  // (RecordRouter deals each batch's partitions between them); 0 (default): one per core the
  // process may run on, at most kMaxDefaultApplyThreads.
  int apply_threads = 0;
  static constexpr int kMaxDefaultApplyThreads = 4;
  // --no-checkpoints (hidden; benchmarks only): no changelog is written or restored, so
  // state lives in memory and a new owner replays the events topic from its start. It
  // measures what checkpointing costs (bench/pipeline_throughput.sh, CHECKPOINTS=both).
  bool no_checkpoints = false;

  // Filled by Finish().
  core::EngineOptions engine;
  core::AreaCapOptions areas;
  absl::Duration flush_every = absl::Seconds(1);
  absl::Duration checkpoint_every = absl::Seconds(1);  // --flush-interval when not given
  absl::Duration snapshot_every = absl::Minutes(10);
  absl::Duration restore_within = absl::Seconds(60);

  void AddFlags(CLI::App* app);
  // Completes the configuration after parsing; InvalidArgument / NotFound with a one-line
  // message on a bad flag (the caller exits 2).
  absl::Status Finish();
};

// Parses a flag duration ("5m", "1h30m", "500ms"); `flag` names it in the error.
absl::Status ParseDurationFlag(const std::string& flag, const std::string& text,
                               absl::Duration* out);
// "<hostname>-<pid>".
std::string DefaultInstanceId();

}  // namespace civicpulse::aggregator
