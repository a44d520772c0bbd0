#include "state_restorer.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "civicpulse/core/batch_reader.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/v1/checkpoint.pb.h"

namespace civicpulse::aggregator {

absl::StatusOr<std::vector<RestoredPartition>> StateRestorer::Restore(
    const std::vector<int32_t>& partitions, int64_t now_ms, absl::Duration timeout,
    StateRestorerStats* stats) {
  std::vector<RestoredPartition> out;
  absl::flat_hash_map<int32_t, size_t> index;  // source partition -> position in `out`
  std::map<int32_t, int64_t> end;              // changelog partition -> end offset to reach
  for (int32_t p : partitions) {
    index[p] = out.size();
    RestoredPartition& r = out.emplace_back();
    r.partition = p;
    r.engine = owned_->NewEngine();
    r.next_offset = kafka::kOffsetBeginning;
    end[p % changelog_partitions_] = -1;
  }
  if (partitions.empty()) return out;

  std::vector<kafka::TopicPartition> assign;
  for (const auto& [c, unused] : end) assign.push_back({changelog_topic_, c, kafka::kOffsetBeginning});
  // One request to a live broker takes milliseconds: a request that waits longer than this
  // is waiting for Kafka to come back, and the caller (who reports it on /healthz and
  // retries) should know.
  const absl::Duration request_timeout = std::min(timeout, kRequestTimeout);
  absl::StatusOr<std::unique_ptr<kafka::Consumer>> consumer = kafka::Consumer::Create(
      kafka_, {.topics = {changelog_topic_}, .assign = assign, .max_batch = 2000}, request_timeout);
  if (!consumer.ok()) return consumer.status();
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<int32_t> changelog_partitions;
  for (const auto& [c, unused] : end) changelog_partitions.push_back(c);
  absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> marks =
      (*consumer)->QueryWatermarks(changelog_topic_, changelog_partitions, request_timeout);
  if (!marks.ok()) return marks.status();
  size_t remaining = 0;
  size_t i = 0;
  for (auto& [c, target] : end) {  // in the order changelog_partitions was built in
    const auto [earliest, log_end] = (*marks)[i++];
    // Nothing retained: nothing to read.
    target = earliest >= log_end ? -1 : log_end;
    if (target >= 0) ++remaining;
  }

  // Source partitions whose oldest retained changelog record is not the first record of a
  // lineage (batch 0, index 0): retention cut into their history.
  absl::flat_hash_map<int32_t, bool> cut;
  core::BatchReader<v1::ChangelogRecord> reader;
  core::BatchReader<v1::ChangelogRecord>::Batch batch;
  v1::ChangelogRecord record;
  absl::Time last_progress = absl::Now();
  std::string last_error;
  while (remaining > 0) {
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat("reading the changelog ", changelog_topic_,
                                                 " to its end took longer than ",
                                                 absl::FormatDuration(timeout)));
    }
    absl::StatusOr<const std::vector<kafka::ConsumerRecord>*> records =
        (*consumer)->Poll(absl::Milliseconds(100));
    if (!records.ok()) return records.status();
    // Records flowing prove the changelog reachable; client errors with nothing read for a
    // while mean it is not (brokers down), which the caller reports and retries.
    const absl::Time now = absl::Now();
    if (!(*records)->empty()) last_progress = now;
    if (std::vector<std::string> errors = (*consumer)->TakeTransientErrors(); !errors.empty()) {
      last_error = errors.back();
    }
    if (!last_error.empty() && now - last_progress > kRequestTimeout) {
      return absl::UnavailableError(
          absl::StrCat("reading the changelog ", changelog_topic_, ": no progress for ",
                       absl::FormatDuration(kRequestTimeout), ": ", last_error));
    }
    for (const kafka::ConsumerRecord& r : **records) {
      auto e = end.find(r.partition);
      if (e != end.end() && e->second >= 0 && r.offset + 1 >= e->second) {
        e->second = -1;
        --remaining;
      }
      ++stats->records;
      if (!record.ParseFromArray(r.value.data(), static_cast<int>(r.value.size())) ||
          record.source_topic() != source_topic_) {
        continue;
      }
      const int32_t source = record.source_partition();
      auto it = index.find(source);
      if (it == index.end()) continue;  // another source partition sharing this one
      cut.try_emplace(source, record.batch().batch() != 0 || record.batch().index() != 0);
      // The header is copied first: the reader moves the record away before it is done
      // with the header.
      const v1::BatchHeader header = record.batch();
      if (!reader.Add(source, header, std::move(record), &batch)) continue;
      RestoredPartition& restored = out[it->second];
      if (batch.snapshot) restored.engine = owned_->NewEngine();
      absl::Status applied;
      for (const v1::ChangelogRecord& piece : batch.records) {
        applied = restored.engine->ApplyPiece(piece.state(), now_ms);
        if (!applied.ok()) break;
      }
      if (!applied.ok()) {
        return absl::DataLossError(absl::StrCat("changelog of partition ",
                                                restored.partition, ": ", applied.message()));
      }
      restored.from_checkpoint = true;
      restored.next_offset = batch.records.back().source_offset();
    }
  }
  // A partition whose changelog retention cut into its history and left no complete snapshot
  // lost its state: starting from scratch would silently drop that history. (A first owner
  // killed in the middle of its first snapshot leaves nothing to lose: its log starts at
  // batch 0, and the events are read again from the start.)
  for (const RestoredPartition& r : out) {
    auto c = cut.find(r.partition);
    if (c != cut.end() && c->second && !r.from_checkpoint) {
      return absl::DataLossError(absl::StrCat(
          "the changelog holds records of partition ", r.partition,
          " but no complete snapshot: retention deleted the last one. Give ", changelog_topic_,
          " a retention.bytes per partition above three snapshots "
          "(civicpulse_aggregator_largest_snapshot_bytes), or spread the events over more "
          "partitions"));
    }
  }
  // The last complete batch of any lineage is a consistent (state, offset) pair to resume
  // from; the new owner's epoch is above every epoch seen.
  for (RestoredPartition& r : out) r.max_epoch = reader.max_epoch(r.partition);
  stats->fenced_records += reader.stats().fenced_records;
  stats->dropped_records += reader.stats().dropped_records;
  return out;
}

}  // namespace civicpulse::aggregator
