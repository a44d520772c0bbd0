// PartitionAggregator: the event-time state of one input partition.
//
// Applies decoded events into bucketed cells per (area, kind): 1-minute buckets serve the
// 1h window, 15-minute buckets the 24h window, 1-hour buckets the 7d window (kWindows), so
// memory grows with time and participants, not with the event count. Tracks the partition's
// watermark (max applied event time - allowed lateness; advanced by wall-clock time after
// idle_timeout of silence), rejects late events (older than watermark - grace, checked before
// deduplication) and duplicates (event_id seen within dedup_horizon), and remembers when each
// participant was last seen in each area (90-day horizon) for new_participants. Emits the
// changed cells (whole, or a large cell's increment since it was last emitted) and a progress
// record, which the exporter's IndicatorStore merges. Semantics in docs/event-time.md.
//
// Also keeps the hourly history of every (area, kind) that the seasonal baseline reads
// (core/seasonal_baseline.h, docs/baseline.md): once the watermark minus the grace passes an
// hour's end, nothing can change that hour any more, and Tick seals it: its events and
// distinct participants (1 h, 24 h, and 7 d at day ends, from the 1-hour cells) become an
// HourFigures kept for kBaselineHistoryMs of event time, checkpointed with the rest of the
// state and published (TakeHistory) to the exporter.
//
// Thread-compatible. Does no I/O and reads no clock: time is passed in.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/engine_options.h"
#include "civicpulse/core/event.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace civicpulse::v1 {
class Cell;
class HourlyHistory;
class PartitionProgress;
class StatePiece;
}  // namespace civicpulse::v1

namespace civicpulse::core {

enum class Outcome { kApplied, kDuplicate, kLate };

// Records consumed by outcome since the partition's first record (part of the checkpointed
// state, so they survive restarts and follow the partition to its next owner).
struct OutcomeCounts {
  uint64_t applied = 0;
  uint64_t duplicate = 0;
  uint64_t late = 0;
  uint64_t invalid = 0;
  // Event ids the dedup memory forgot before their horizon because it was full
  // (EngineOptions::dedup_max_entries): a duplicate of one would be applied again.
  uint64_t dedup_evicted = 0;
};

class PartitionAggregator {
 public:
  // `areas` must outlive this object. Sharing one cap between partitions makes the labels
  // depend on what one process owns; the aggregator gives each partition its own (below).
  PartitionAggregator(const EngineOptions& options, AreaCap* areas);
  // With a cap of its own: the partition's areas are admitted in its log order alone.
  PartitionAggregator(const EngineOptions& options, AreaCapOptions areas);
  ~PartitionAggregator();
  PartitionAggregator(const PartitionAggregator&) = delete;
  PartitionAggregator& operator=(const PartitionAggregator&) = delete;

  // What Apply needs to know of an event before it touches the state, worked out ahead by
  // Prepare: its keys in the event-id and new-participant memories, and its area's id when
  // the area was already known (an id, once given, never changes).
  struct Prepared {
    uint64_t id_key = 0;
    uint64_t participant = 0;    // the participant's hash; 0 without one
    uint32_t area_id = kNoArea;  // kNoArea: not known when prepared (Apply looks it up)
    static constexpr uint32_t kNoArea = 0xFFFFFFFF;
  };

  // Applies one valid event received at wall-clock `now_ms`.
  Outcome Apply(const Event& event, int64_t now_ms);
  // The same with `prepared` = Prepare(event) of this aggregator, called at any time before
  // (the aggregator may have applied other events since).
  Outcome Apply(const Event& event, const Prepared& prepared, int64_t now_ms);
  // Works out the event's Prepared and starts loading what Apply will read first and most
  // likely miss in cache (its slots in the event-id and new-participant memories, and the
  // cells it will add to); changes nothing. A caller with a batch calls it a few events
  // ahead of Apply, so that those misses overlap other work, and hands the result to Apply.
  Prepared Prepare(const Event& event) const;
  // Counts a record that failed decoding (it is never applied).
  void RecordInvalid();
  // Advances the watermark by wall-clock time when idle past idle_timeout, and evicts cells
  // and dedup entries that no window can reach any more.
  void Tick(int64_t now_ms);

  // Event-time watermark; 0 while the partition has had no record.
  int64_t watermark_ms() const;
  // Largest event time applied; 0 before the first.
  int64_t max_event_ms() const;
  OutcomeCounts outcome_counts() const;

  // Appends every cell changed since the last call and forgets the changes: whole cells,
  // or after EnableIncrementalPublishing, for a large cell (32 participants or more) its
  // increment since the previous call when that is smaller (v1::Cell.increment: a reader
  // must then apply every call's cells once and in order). `all` appends every live cell,
  // whole, instead (for a periodic full re-publish, which a reader starts over from). Cells
  // that no window can read any more (start < watermark - window length) are left out.
  void TakeCells(std::vector<v1::Cell>* out, bool all = false);
  // The same into a repeated field; when it lives on an arena, so do the cells (the
  // aggregator's publishing path: no allocation per cell).
  void TakeCells(google::protobuf::RepeatedPtrField<v1::Cell>* out, bool all = false);
  void FillProgress(v1::PartitionProgress* out) const;
  // Appends, per (area, kind), the hours sealed since the last call (`all`: every hour
  // held) and forgets them.
  void TakeHistory(std::vector<v1::HourlyHistory>* out, bool all = false);
  // Start of the hour of the earliest event applied; 0 before the first.
  int64_t history_start_ms() const;

  // --- Checkpoints (proto/civicpulse/v1/checkpoint.proto, docs/delivery.md) -------------
  // TakeCells writes large changed cells as increments from now on. Off by default: a
  // reader that may see cells out of order or twice (IndicatorStore fed records directly)
  // needs whole cells; one behind a BatchReader (the exporter) takes increments.
  void EnableIncrementalPublishing();

  // Starts tracking what changes, for TakeDelta. Off by default (it costs a little memory
  // per event between two deltas).
  void EnableCheckpoints();
  // Writes everything changed since the last TakeDelta or WriteSnapshot: the scalars, the
  // cells touched (whole, or a large cell's increment since the last delta when smaller:
  // ApplyPiece reads both), the series totals changed, the event ids and participant
  // sightings remembered since; as pieces of about `max_piece_bytes` each (at least one; a
  // catch-up after a restore changes a lot between two checkpoints), appended to `out`.
  void TakeDelta(size_t max_piece_bytes, std::vector<v1::StatePiece>* out);
  // Appends the whole state as pieces of about `max_piece_bytes` each (at least one), and
  // forgets the pending changes (the snapshot covers them).
  void WriteSnapshot(size_t max_piece_bytes, std::vector<v1::StatePiece>* out);
  // The same two into a repeated field; when it lives on an arena, so does every message
  // written (the aggregator's checkpoint path: no allocation per cell).
  void TakeDelta(size_t max_piece_bytes, google::protobuf::RepeatedPtrField<v1::StatePiece>* out);
  void WriteSnapshot(size_t max_piece_bytes,
                     google::protobuf::RepeatedPtrField<v1::StatePiece>* out);
  // Restores one piece (of a snapshot, into an empty aggregator, or of a later delta).
  // `now_ms` restarts the idle clock. A malformed cell is an error; the aggregator is then
  // unusable and the caller starts over.
  absl::Status ApplyPiece(const v1::StatePiece& piece, int64_t now_ms);

  // Approximate heap bytes held (cells, sketches, participant and event-id memory).
  size_t MemoryBytes() const;
  // Live cells (all resolutions) and (area, kind) series, for tests and diagnostics.
  size_t cell_count() const;
  size_t series_count() const;

 private:
  struct State;
  template <typename Pieces>
  void TakeDeltaInto(size_t max_piece_bytes, Pieces* out);
  template <typename Pieces>
  void WriteSnapshotInto(size_t max_piece_bytes, Pieces* out);
  // Null when the cap is shared. Declared before state_, which points into it.
  std::unique_ptr<AreaCap> own_areas_;
  std::unique_ptr<State> state_;
};

}  // namespace civicpulse::core
