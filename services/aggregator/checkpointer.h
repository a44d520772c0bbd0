// Checkpointer: makes what the owned partitions consumed durable, in two steps per cycle, and
// says which offsets may then be committed (docs/delivery.md):
//   1. publish: per partition with news, one batch on the aggregates topic (its changed
//      readable cells, or every readable cell in a snapshot, then its progress record as the
//      commit marker), plus every pending dead letter; then wait for Kafka's acknowledgement
//      if a dead letter is among them (it must be durable before a changelog covers its
//      record), or if no changelog is written;
//   2. checkpoint: per partition, one batch on the changelog (its state delta, or its whole
//      state in a snapshot), covering the source offset consumed; wait (for both logs, when
//      step 1 did not). Every cycle by default; with a checkpoint interval only once it has
//      passed (or when forced).
// A source partition's records go to one partition of each topic (source partition modulo
// the topic's partition count), so each log keeps its order. If a step fails, nothing is
// committed and the next batch of that log is a snapshot (readers drop the broken one).
//
// Uses the kafka::Producer interface only (tests pass a fake). Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aggregator_metrics.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/kafka/producer.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "civicpulse/v1/checkpoint.pb.h"
#include "dead_letters.h"
#include "google/protobuf/arena.h"
#include "owned_partitions.h"

namespace civicpulse::aggregator {

struct CheckpointerOptions {
  std::string topic;             // the events topic (source_topic of every record)
  std::string aggregates_topic;
  int aggregates_partitions = 1;
  std::string changelog_topic;
  int changelog_partitions = 1;
  // Least time between two changelog batches of a partition (the cycles between publish
  // aggregates only and commit nothing new); zero: every cycle.
  absl::Duration checkpoint_interval = absl::ZeroDuration();
  // False only for benchmarks (--no-checkpoints): step 2 is skipped and the offsets published
  // in step 1 are committed; the engines must not track changes (nothing takes them).
  bool changelog = true;
  std::string instance_id;       // `producer` of every record
  // Snapshot policy (LogCursor::Due): at least this many bytes of deltas, and at least once
  // per interval.
  size_t snapshot_min_bytes = 1 << 20;
  absl::Duration snapshot_interval = absl::Minutes(10);
  // Largest changelog record (a snapshot is split into pieces of about this size), and of an
  // aggregates record's bundle of cells.
  size_t max_piece_bytes = 512 * 1024;
  absl::Duration flush_timeout = absl::Seconds(10);
};

// Kafka key of a record of cells and histories: "cells/<topic>/<partition>".
std::string BundleKey(const std::string& topic, int32_t partition);
// Kafka key of a progress record: "progress/<topic>/<partition>".
std::string ProgressKey(const std::string& topic, int32_t partition);
// Kafka key of a changelog record: "<topic>/<partition>".
std::string ChangelogKey(const std::string& topic, int32_t partition);

class Checkpointer {
 public:
  // Every pointer must outlive this object.
  Checkpointer(CheckpointerOptions options, kafka::Producer* producer,
               DeadLetterQueue* dead_letters, AggregatorMetrics* metrics);

  // Ticks `partitions` at `now_ms`, publishes and checkpoints them as above (the changelog
  // only for partitions whose checkpoint interval has passed, or all with `force`: before a
  // revocation or shutdown), and waits for Kafka's acknowledgement. Returns the offsets now
  // safe to commit (those past the last committed one); the caller commits them and reports
  // it with MarkCommitted(). Start, then Finish.
  absl::StatusOr<std::vector<kafka::TopicPartition>> Run(
      const std::vector<OwnedPartition*>& partitions, int64_t now_ms, bool force = false);

  // A cycle in two halves, so that the consume loop applies records while Kafka acknowledges
  // a cycle's batches instead of standing still (with one wait, that wait was a quarter of a
  // dense replay's wall time: bench/README.md). Start writes the cycle's batches (and waits
  // there only when dead letters must be durable before the changelog, or without a
  // changelog); Finish waits for Kafka's acknowledgement and returns what Run would. The
  // cycle's records already carry their offsets, so what is consumed in between is covered
  // by the next cycle only. Until Finish returns, every partition passed to Start must stay
  // owned (call Finish before dropping one); a Start with a cycle pending finishes it first
  // (its offsets are then committed by a later cycle).
  absl::Status Start(const std::vector<OwnedPartition*>& partitions, int64_t now_ms,
                     bool force = false);
  // Ends the started cycle: OK and no offsets when none is pending.
  absl::StatusOr<std::vector<kafka::TopicPartition>> Finish();
  bool pending() const { return cycle_ != nullptr; }

  static void MarkCommitted(const std::vector<kafka::TopicPartition>& offsets,
                            OwnedPartitions* owned);

 private:
  // What a cycle wrote for one partition, and the offset and watermark that covers.
  struct Written {
    OwnedPartition* partition;
    bool wrote = false;
    bool snapshot = false;
    size_t bytes = 0;
    int64_t offset = 0;
    int64_t watermark = 0;
  };
  // A cycle between Start and Finish.
  struct Cycle {
    int64_t now_ms = 0;
    bool one_wait = false;  // both logs acknowledged in Finish's one wait
    absl::Status status;    // of producing the changelog batches
    absl::Time publish_start, checkpoint_start, produced;
    std::vector<Written> published, checkpointed;
  };
  // A failed wait for the aggregates and dead letters: what it leaves to do. A successful
  // one: what it settles.
  void PublishFailed(Cycle& c);
  void PublishedDurably(Cycle& c);

  absl::Status Publish(OwnedPartition* p, int64_t now_ms, bool* wrote, size_t* bytes,
                       bool* snapshot);
  absl::Status WriteChangelog(OwnedPartition* p, int64_t now_ms, bool force, bool* wrote,
                              size_t* bytes, bool* snapshot);

  // Whether partition `p` writes a changelog batch this cycle (its checkpoint interval has
  // passed, or `force`).
  static bool ChangelogBatchDue(const OwnedPartition& p, int64_t now_ms, bool force) {
    return force || now_ms >= p.checkpoint_due_ms;
  }

  // Grants the snapshots one log (`log` of each partition) writes this cycle because the
  // policy calls for them (LogCursor::Due; a required one, snapshot_due, is always written):
  // the partitions whose last snapshot is oldest first, while the bytes they are expected to
  // take (each one's last snapshot) fit twice what the log's deltas took in the last cycle
  // (`delta_bytes`; at least four --snapshot-bytes), and at least one. The rest wait for a
  // later cycle: partitions fed at the same rate come due in the same cycle, and sixteen of
  // them at once held the consume loop for seconds.
  void GrantSnapshots(const std::vector<OwnedPartition*>& ready, LogCursor OwnedPartition::*log,
                      size_t delta_bytes, int64_t now_ms, bool changelog, bool force);

  // Holds one Publish's (or WriteChangelog's) messages; reset when it returns. Its first
  // block is first_block_, kept across resets.
  std::vector<char> first_block_;
  google::protobuf::Arena arena_;
  CheckpointerOptions options_;
  kafka::Producer* producer_;
  DeadLetterQueue* dead_letters_;
  AggregatorMetrics* metrics_;
  // Delta bytes each log wrote (acknowledged) in the last cycle.
  size_t aggregates_delta_bytes_ = 0;
  size_t changelog_delta_bytes_ = 0;
  std::unique_ptr<Cycle> cycle_;  // started, not finished
  // Scratch reused across cycles.
  std::vector<v1::Cell*> cell_pointers_;
  std::vector<v1::StatePiece*> piece_pointers_;
  std::vector<v1::HourlyHistory> history_;
};

}  // namespace civicpulse::aggregator
