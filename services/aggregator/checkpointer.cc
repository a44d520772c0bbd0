#include "checkpointer.h"

#include <algorithm>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "batch_writer.h"

namespace civicpulse::aggregator {

namespace {

// Clears `record` and stamps it with what every record of both logs says about its source:
// the partition, the offset its batch covers, the writer and when.
template <typename Record>
void StampSource(const CheckpointerOptions& options, const OwnedPartition& p, int64_t now_ms,
                 Record* record) {
  record->Clear();
  record->set_source_topic(options.topic);
  record->set_source_partition(p.number);
  record->set_source_offset(p.next_offset);
  record->set_producer(options.instance_id);
  record->set_produced_unix_ms(now_ms);
}

}  // namespace

std::string BundleKey(const std::string& topic, int32_t partition) {
  return absl::StrCat("cells/", topic, "/", partition);
}

std::string ProgressKey(const std::string& topic, int32_t partition) {
  return absl::StrCat("progress/", topic, "/", partition);
}

std::string ChangelogKey(const std::string& topic, int32_t partition) {
  return absl::StrCat(topic, "/", partition);
}

namespace {

google::protobuf::ArenaOptions PublishArenaOptions(std::vector<char>* first_block) {
  google::protobuf::ArenaOptions options;
  // Kept across Resets: a steady flush of a partition needs no more than this.
  options.initial_block = first_block->data();
  options.initial_block_size = first_block->size();
  options.start_block_size = 256 << 10;
  options.max_block_size = 4 << 20;
  return options;
}

}  // namespace

Checkpointer::Checkpointer(CheckpointerOptions options, kafka::Producer* producer,
                           DeadLetterQueue* dead_letters, AggregatorMetrics* metrics)
    : first_block_(1 << 20),
      arena_(PublishArenaOptions(&first_block_)),
      options_(std::move(options)),
      producer_(producer),
      dead_letters_(dead_letters),
      metrics_(metrics) {
  options_.aggregates_partitions = std::max(options_.aggregates_partitions, 1);
  options_.changelog_partitions = std::max(options_.changelog_partitions, 1);
}

absl::Status Checkpointer::Publish(OwnedPartition* p, int64_t now_ms, bool* wrote,
                                   size_t* bytes, bool* snapshot) {
  *wrote = false;
  *snapshot = p->aggregates.SnapshotNext();
  // Every message of this publish lives on the arena and goes in one Reset at the end: a
  // replay changes tens of thousands of cells per flush, each a tree of small messages.
  absl::Cleanup reset_arena = [this] { arena_.Reset(); };
  auto* taken = google::protobuf::Arena::CreateMessage<v1::CellBundle>(&arena_);
  p->engine->TakeCells(taken->mutable_cells(), /*all=*/*snapshot);
  history_.clear();
  p->engine->TakeHistory(&history_, /*all=*/*snapshot);
  const int64_t watermark = p->engine->watermark_ms();
  if (!*snapshot && taken->cells_size() == 0 && history_.empty() &&
      p->next_offset == p->published_offset && watermark == p->published_watermark) {
    return absl::OkStatus();  // nothing new to say
  }
  BatchWriter<v1::PartialAggregate> writer(
      producer_, options_.aggregates_topic, p->number % options_.aggregates_partitions,
      p->lineage, p->aggregates.next_batch, *snapshot);
  absl::Status status;
  v1::PartialAggregate* aggregate = nullptr;
  auto start_record = [&] {
    aggregate = google::protobuf::Arena::CreateMessage<v1::PartialAggregate>(&arena_);
    StampSource(options_, *p, now_ms, aggregate);
  };
  // Cells and histories travel in bundles of up to max_piece_bytes: a flush costs a few
  // records per partition, whatever the number of cells it changed.
  size_t bundle_bytes = 0;
  auto send_bundle = [&] {
    if (bundle_bytes == 0) return;
    if (absl::Status s = writer.Add(BundleKey(options_.topic, p->number), *aggregate);
        !s.ok() && status.ok()) {
      status = s;
    }
    bundle_bytes = 0;
  };
  auto room_for = [&](size_t size) {
    if (bundle_bytes > 0 && bundle_bytes + size > options_.max_piece_bytes) send_bundle();
    if (bundle_bytes == 0) start_record();
    bundle_bytes += size + 8;  // + the field's tag and length
  };
  // The cells move between messages of the same arena: pointers, no copies.
  cell_pointers_.resize(static_cast<size_t>(taken->cells_size()));
  taken->mutable_cells()->UnsafeArenaExtractSubrange(0, taken->cells_size(), cell_pointers_.data());
  for (v1::Cell* cell : cell_pointers_) {
    room_for(cell->ByteSizeLong());
    aggregate->mutable_cells()->mutable_cells()->UnsafeArenaAddAllocated(cell);
  }
  for (v1::HourlyHistory& history : history_) {
    room_for(history.ByteSizeLong());
    *aggregate->mutable_cells()->add_history() = std::move(history);
  }
  send_bundle();
  start_record();
  p->engine->FillProgress(aggregate->mutable_progress());
  if (absl::Status s = writer.Add(ProgressKey(options_.topic, p->number), *aggregate);
      !s.ok() && status.ok()) {
    status = s;
  }
  if (absl::Status s = writer.End(); !s.ok() && status.ok()) status = s;
  *wrote = true;
  *bytes = writer.bytes();
  metrics_->published_records.Increment(writer.records());
  return status;
}

absl::Status Checkpointer::WriteChangelog(OwnedPartition* p, int64_t now_ms, bool force,
                                          bool* wrote, size_t* bytes, bool* snapshot) {
  *wrote = false;
  *snapshot = false;
  if (!ChangelogBatchDue(*p, now_ms, force)) return absl::OkStatus();
  *snapshot = p->changelog.SnapshotNext();
  if (!*snapshot && p->next_offset == p->checkpointed_offset) return absl::OkStatus();
  absl::Cleanup reset_arena = [this] { arena_.Reset(); };  // as in Publish
  // Arena::Create constructs a non-message type without the arena: it is passed on purpose.
  auto* pieces =
      google::protobuf::Arena::Create<google::protobuf::RepeatedPtrField<v1::StatePiece>>(&arena_,
                                                                                          &arena_);
  if (*snapshot) {
    p->engine->WriteSnapshot(options_.max_piece_bytes, pieces);
  } else {
    p->engine->TakeDelta(options_.max_piece_bytes, pieces);
  }
  BatchWriter<v1::ChangelogRecord> writer(
      producer_, options_.changelog_topic, p->number % options_.changelog_partitions,
      p->lineage, p->changelog.next_batch, *snapshot);
  absl::Status status;
  piece_pointers_.resize(static_cast<size_t>(pieces->size()));
  pieces->UnsafeArenaExtractSubrange(0, pieces->size(), piece_pointers_.data());
  for (v1::StatePiece* piece : piece_pointers_) {
    auto* change = google::protobuf::Arena::CreateMessage<v1::ChangelogRecord>(&arena_);
    StampSource(options_, *p, now_ms, change);
    change->unsafe_arena_set_allocated_state(piece);
    if (absl::Status s = writer.Add(ChangelogKey(options_.topic, p->number), *change);
        !s.ok() && status.ok()) {
      status = s;
    }
  }
  if (absl::Status s = writer.End(); !s.ok() && status.ok()) status = s;
  *wrote = true;
  *bytes = writer.bytes();
  return status;
}

void Checkpointer::GrantSnapshots(const std::vector<OwnedPartition*>& ready,
                                  LogCursor OwnedPartition::*log, size_t delta_bytes,
                                  int64_t now_ms, bool changelog, bool force) {
  const int64_t interval_ms = absl::ToInt64Milliseconds(options_.snapshot_interval);
  std::vector<LogCursor*> due;
  for (OwnedPartition* p : ready) {
    LogCursor& cursor = p->*log;
    cursor.snapshot_granted = false;
    if (changelog && !ChangelogBatchDue(*p, now_ms, force)) continue;  // no batch this cycle
    if (!cursor.snapshot_due && cursor.Due(now_ms, options_.snapshot_min_bytes, interval_ms)) {
      due.push_back(&cursor);
    }
  }
  std::stable_sort(due.begin(), due.end(), [](const LogCursor* a, const LogCursor* b) {
    return a->last_snapshot_ms < b->last_snapshot_ms;
  });
  size_t left = std::max(4 * options_.snapshot_min_bytes, 2 * delta_bytes);
  for (size_t i = 0; i < due.size(); ++i) {
    if (i > 0 && due[i]->last_snapshot_bytes > left) break;
    left -= std::min(left, due[i]->last_snapshot_bytes);
    due[i]->snapshot_granted = true;
  }
}

absl::StatusOr<std::vector<kafka::TopicPartition>> Checkpointer::Run(
    const std::vector<OwnedPartition*>& partitions, int64_t now_ms, bool force) {
  if (absl::Status s = Start(partitions, now_ms, force); !s.ok()) return s;
  return Finish();
}

absl::Status Checkpointer::Start(const std::vector<OwnedPartition*>& partitions, int64_t now_ms,
                                 bool force) {
  if (cycle_ != nullptr) Finish().IgnoreError();  // its outcome is recorded either way
  auto cycle = std::make_unique<Cycle>();
  Cycle& c = *cycle;
  c.now_ms = now_ms;
  // Nothing consumed since an assignment without a checkpoint: nothing to say yet.
  std::vector<OwnedPartition*> ready;
  for (OwnedPartition* p : partitions) {
    if (p->next_offset >= 0) ready.push_back(p);
  }

  // 1. Aggregates and dead letters. With no dead letter to make durable first, and a
  // changelog to write, both logs are acknowledged in one wait (in Finish): the order
  // between them does not matter, since a restore rebuilds the aggregates from the changelog
  // and a lost aggregates batch is followed by a snapshot. A dead letter must be durable
  // before a changelog covers its record, so with one pending the aggregates and dead
  // letters are acknowledged first, here.
  c.publish_start = absl::Now();
  GrantSnapshots(ready, &OwnedPartition::aggregates, aggregates_delta_bytes_, now_ms,
                 /*changelog=*/false, force);
  if (options_.changelog) {
    GrantSnapshots(ready, &OwnedPartition::changelog, changelog_delta_bytes_, now_ms,
                   /*changelog=*/true, force);
  }
  aggregates_delta_bytes_ = changelog_delta_bytes_ = 0;
  c.one_wait = options_.changelog && dead_letters_->pending() == 0;
  absl::Status status;
  for (OwnedPartition* p : ready) {
    p->engine->Tick(now_ms);
    Written& w = c.published.emplace_back(Written{.partition = p, .offset = p->next_offset});
    if (absl::Status s = Publish(p, now_ms, &w.wrote, &w.bytes, &w.snapshot);
        !s.ok() && status.ok()) {
      status = s;
    }
    w.watermark = p->engine->watermark_ms();
  }
  if (absl::Status s = dead_letters_->Produce(producer_); !s.ok() && status.ok()) status = s;
  if (!c.one_wait || !status.ok()) {
    c.one_wait = false;
    if (absl::Status s = producer_->Flush(options_.flush_timeout); !s.ok() && status.ok()) {
      status = s;
    }
    if (!ready.empty()) {
      metrics_->publish_step_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - c.publish_start));
    }
    if (!status.ok()) {
      PublishFailed(c);
      return status;
    }
    PublishedDurably(c);
  }
  if (!options_.changelog) {  // what Finish commits is settled already
    cycle_ = std::move(cycle);
    return absl::OkStatus();
  }

  // 2. The changelog, covering what was consumed; Finish waits for it.
  c.checkpoint_start = absl::Now();
  for (OwnedPartition* p : ready) {
    Written& w = c.checkpointed.emplace_back(Written{.partition = p, .offset = p->next_offset});
    if (absl::Status s = WriteChangelog(p, now_ms, force, &w.wrote, &w.bytes, &w.snapshot);
        !s.ok() && c.status.ok()) {
      c.status = s;
    }
  }
  c.produced = absl::Now();
  cycle_ = std::move(cycle);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<kafka::TopicPartition>> Checkpointer::Finish() {
  std::vector<kafka::TopicPartition> offsets;
  if (cycle_ == nullptr) return offsets;
  std::unique_ptr<Cycle> cycle = std::move(cycle_);
  Cycle& c = *cycle;
  if (!options_.changelog) {
    for (const Written& w : c.published) {
      OwnedPartition* p = w.partition;
      if (p->published_offset > p->committed_offset) {
        offsets.push_back({options_.topic, p->number, p->published_offset});
      }
    }
    return offsets;
  }
  absl::Status status = c.status;
  const absl::Time wait_start = absl::Now();
  if (absl::Status s = producer_->Flush(options_.flush_timeout); !s.ok() && status.ok()) {
    status = s;
  }
  // What each step held the consume loop for: its producing in Start, and this wait (with one
  // wait, it counts in the checkpoint step when a changelog batch was written, and in the
  // publish step otherwise).
  const absl::Duration waited = absl::Now() - wait_start;
  const bool wrote_changelog = std::any_of(c.checkpointed.begin(), c.checkpointed.end(),
                                           [](const Written& w) { return w.wrote; });
  if (c.one_wait && !c.published.empty()) {
    metrics_->publish_step_seconds.Observe(
        absl::ToDoubleSeconds(wrote_changelog ? c.checkpoint_start - c.publish_start
                                              : c.produced - c.publish_start + waited));
  }
  if (wrote_changelog) {
    metrics_->checkpoint_step_seconds.Observe(
        absl::ToDoubleSeconds(c.produced - c.checkpoint_start + waited));
  }
  if (!status.ok()) {
    // The deltas taken are lost with the batch: only a snapshot can follow.
    for (Written& w : c.checkpointed) {
      if (w.wrote) w.partition->changelog.snapshot_due = true;
    }
    if (c.one_wait) {
      PublishFailed(c);  // counts the failure
    } else {
      metrics_->publish_failures.Increment();
    }
    return status;
  }
  if (c.one_wait) PublishedDurably(c);
  for (Written& w : c.checkpointed) {
    OwnedPartition* p = w.partition;
    if (w.wrote) {
      p->changelog.Wrote(w.snapshot, w.bytes, c.now_ms);
      if (!w.snapshot) changelog_delta_bytes_ += w.bytes;
      p->checkpointed_offset = w.offset;
      p->checkpoint_due_ms = c.now_ms + absl::ToInt64Milliseconds(options_.checkpoint_interval);
      metrics_->Checkpoint("changelog", w.snapshot).Increment(static_cast<double>(w.bytes));
    }
    if (p->checkpointed_offset > p->committed_offset) {
      offsets.push_back({options_.topic, p->number, p->checkpointed_offset});
    }
  }
  return offsets;
}

void Checkpointer::PublishFailed(Cycle& c) {
  dead_letters_->Retry();
  for (Written& w : c.published) {
    if (w.wrote) w.partition->aggregates.snapshot_due = true;
  }
  metrics_->publish_failures.Increment();
}

void Checkpointer::PublishedDurably(Cycle& c) {
  dead_letters_->Acknowledge();
  for (Written& w : c.published) {
    if (!w.wrote) continue;
    w.partition->aggregates.Wrote(w.snapshot, w.bytes, c.now_ms);
    if (!w.snapshot) aggregates_delta_bytes_ += w.bytes;
    w.partition->published_offset = w.offset;
    w.partition->published_watermark = w.watermark;
    metrics_->Checkpoint("aggregates", w.snapshot).Increment(static_cast<double>(w.bytes));
  }
}

void Checkpointer::MarkCommitted(const std::vector<kafka::TopicPartition>& offsets,
                                 OwnedPartitions* owned) {
  for (const kafka::TopicPartition& tp : offsets) {
    if (OwnedPartition* p = owned->Find(tp.partition)) {
      p->committed_offset = std::max(p->committed_offset, tp.offset);
    }
  }
}

}  // namespace civicpulse::aggregator
