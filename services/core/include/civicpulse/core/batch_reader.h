// BatchReader: the reading side of the batch framing that an aggregator's two logs share (its
// state changelog and its partial aggregates; proto/civicpulse/v1/batch.proto,
// docs/delivery.md). Fed the records of one log in log order, it hands back only complete
// batches of the current lineage of each source partition, so that:
//   - a writer killed mid-batch, or a record lost in delivery, leaves nothing half-applied
//     (a batch counts only once records 0..count-1 have all arrived, in order);
//   - a delta is applied only on top of the batch before it (batch numbers are consecutive
//     within a lineage; after a gap, deltas wait for the next snapshot);
//   - a fenced writer (a zombie that lost the partition and woke up) changes nothing: once a
//     snapshot of epoch E has been accepted, records of a lower epoch, or of epoch E from
//     another owner, are ignored;
//   - each writer's open batch is assembled apart, so that two writers' records interleaved
//     in the log (an old owner's last batch among the records of the new owner's first
//     snapshot) break neither batch.
// A record before the first snapshot (the log's start cut by retention) is ignored too.
//
// `Record` is any movable type; the caller extracts each record's source key and header.
// Thread-compatible. Does no I/O.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "civicpulse/v1/batch.pb.h"

namespace civicpulse::core {

// Why a record was not (yet) applied; counted by the reader.
struct BatchReaderStats {
  uint64_t batches = 0;         // complete batches handed out
  uint64_t fenced_records = 0;  // from a lower epoch, or the same epoch by another owner
  uint64_t dropped_records = 0; // fragments: no beginning, out of order, or no base
};

template <typename Record>
class BatchReader {
 public:
  // A complete batch: apply it (after clearing the partition's state when `snapshot`).
  struct Batch {
    int32_t source_partition = 0;
    bool snapshot = false;
    std::vector<Record> records;
  };

  // Feeds one record of `source_partition` with its header. Returns true and fills `out`
  // when the record completes an acceptable batch. `header` must not refer into `record`
  // (which is moved from inside): copy it first. `record` is taken by reference, so the
  // caller's other arguments may still read it (a by-value parameter was moved into before
  // they were evaluated, which once keyed every record of a restore under partition 0).
  bool Add(int32_t source_partition, const v1::BatchHeader& header, Record&& record,
           Batch* out) {
    Source& s = sources_[source_partition];
    if (header.epoch() > s.max_epoch) s.max_epoch = header.epoch();
    // Fenced: an older lineage than the one accepted.
    if (s.Fences(header.epoch(), header.owner())) {
      ++stats_.fenced_records;
      return false;
    }
    // Each writer's open batch is kept apart: the records of an owner that has just lost the
    // partition (its last batch, written while the group had already moved the partition on)
    // may land between those of the new owner's first snapshot. Letting them break that
    // snapshot would leave the exporter without the partition's news until the new owner's
    // next snapshot, up to --snapshot-interval later (and a restore on an older state).
    auto open = std::find_if(s.open.begin(), s.open.end(), [&header](const Open& o) {
      return o.epoch == header.epoch() && o.owner == header.owner();
    });
    if (open != s.open.end() && open->batch != header.batch()) {
      // This writer's previous batch never completed (a record was lost).
      stats_.dropped_records += open->records.size();
      s.open.erase(open);
      open = s.open.end();
    }
    if (open == s.open.end()) {
      if (header.index() != 0) {
        ++stats_.dropped_records;
        return false;
      }
      open = s.open.insert(s.open.end(), Open{.epoch = header.epoch(),
                                              .owner = header.owner(),
                                              .batch = header.batch(),
                                              .snapshot = header.snapshot()});
    } else if (header.index() != static_cast<int32_t>(open->records.size())) {
      stats_.dropped_records += open->records.size() + 1;
      s.open.erase(open);
      return false;
    }
    open->records.push_back(std::move(record));
    if (header.count() == 0) return false;  // more to come
    if (header.count() != static_cast<int32_t>(open->records.size())) {
      stats_.dropped_records += open->records.size();
      s.open.erase(open);
      return false;
    }
    // Complete. Accept it if it continues or starts a lineage.
    const bool snapshot = open->snapshot;
    const bool newer = !s.has_lineage || header.epoch() > s.epoch;
    bool accept;
    if (snapshot) {
      accept = true;
    } else {
      accept = !newer && s.has_base && header.batch() == s.last_batch + 1;
    }
    if (newer) {
      s.has_lineage = true;
      s.epoch = header.epoch();
      s.owner = header.owner();
      s.has_base = false;
    }
    std::vector<Record> records = std::move(open->records);
    s.open.erase(open);
    if (newer) {
      // Batches left open by the lineages this one fences will never be accepted: their
      // writers died midway (or will be fenced record by record if they write on).
      for (auto it = s.open.begin(); it != s.open.end();) {
        if (s.Fences(it->epoch, it->owner)) {
          stats_.dropped_records += it->records.size();
          it = s.open.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (!accept) {
      // A delta without the batch before it: wait for the next snapshot.
      s.has_base = false;
      stats_.dropped_records += records.size();
      return false;
    }
    s.has_base = true;
    s.last_batch = header.batch();
    out->source_partition = source_partition;
    out->snapshot = snapshot;
    out->records = std::move(records);
    ++stats_.batches;
    return true;
  }

  // Highest epoch any record of `source_partition` carried (-1 when none): a new owner
  // starts the next one.
  int64_t max_epoch(int32_t source_partition) const {
    auto it = sources_.find(source_partition);
    return it == sources_.end() ? -1 : it->second.max_epoch;
  }
  // Whether a snapshot of `source_partition` has been accepted and every delta since.
  bool has_state(int32_t source_partition) const {
    auto it = sources_.find(source_partition);
    return it != sources_.end() && it->second.has_base;
  }
  // Forgets a source partition (the reader stops following it).
  void Forget(int32_t source_partition) { sources_.erase(source_partition); }

  const BatchReaderStats& stats() const { return stats_; }

 private:
  // A batch of one writer (epoch, owner) whose records have not all arrived yet.
  struct Open {
    int64_t epoch = 0;
    uint64_t owner = 0;
    int64_t batch = 0;
    bool snapshot = false;
    std::vector<Record> records;
  };
  struct Source {
    int64_t max_epoch = -1;
    bool has_lineage = false;
    int64_t epoch = 0;
    uint64_t owner = 0;
    bool has_base = false;
    int64_t last_batch = -1;
    // At most one per writer, in the order they opened: two or three while owners change.
    std::vector<Open> open;

    // Whether the accepted lineage fences a record of (epoch, owner).
    bool Fences(int64_t record_epoch, uint64_t record_owner) const {
      return has_lineage &&
             (record_epoch < epoch || (record_epoch == epoch && record_owner != owner));
    }
  };

  absl::flat_hash_map<int32_t, Source> sources_;
  BatchReaderStats stats_;
};

}  // namespace civicpulse::core
