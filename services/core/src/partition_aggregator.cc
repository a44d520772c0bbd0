#include "civicpulse/core/partition_aggregator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "cell_contents.h"
#include "civicpulse/core/event_id_filter.h"
#include "civicpulse/core/hash_time_table.h"
#include "civicpulse/core/participant_sketch.h"
#include "civicpulse/core/prefetch.h"
#include "civicpulse/core/seasonal_baseline.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "civicpulse/v1/checkpoint.pb.h"

namespace civicpulse::core {
namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
constexpr int64_t kNoCells = std::numeric_limits<int64_t>::max();

// How far event time must move before the participant memory is swept again: expiry is
// invisible to the results (see Sweep), so it only bounds memory and may lag.
constexpr int64_t kSweepEveryMs = kHourMs;

// How far the watermark moves between two evictions of cells (State::SealAndEvictCells)
// inside Apply, besides those of Tick. Tick runs once per flush of the aggregator, and a
// replay moves many hours of event time in that while: their 1-minute and 15-minute cells
// piled up until the next Tick (issue 8's week: peak RSS 422-426 MB against 356-364 MB
// evicting hourly, and cell maps grown to 19-65 MB instead of 6.5). This costs a walk over
// the partition's cells once an hour of event time (no slower end to end: fewer cells left
// for each checkpoint to walk); the event-id and participant memories are still swept by
// Tick only (a sweep walks the whole table).
constexpr int64_t kEvictCellsEveryMs = kHourMs;

// The resolution whose cells are one hour wide: the seasonal history is sealed from them.
constexpr int kHourly = 2;
static_assert(kWindows[kHourly].cell_ms == kHourMs);
static_assert(kWindows[kHourly].length_ms >= 7 * kDayMs);

// Hours of one series per HourlyHistory message (keeps changelog pieces and aggregates
// records small: 512 hours are about 8 KB).
constexpr size_t kHoursPerMessage = 512;

int64_t FloorTo(int64_t t, int64_t width) {
  int64_t q = t / width;
  if (t % width != 0 && t < 0) --q;
  return q * width;
}

// The two logs a cell is carried by: the aggregates the exporter reads (TakeCells) and the
// changelog a restore reads (TakeDelta, WriteSnapshot).
enum CellLog { kAggregatesLog = 0, kChangelog = 1 };

// A participant's event added to a cell: what its sketches gained.
struct Addition {
  uint64_t hash;
  AgeBand band;  // kNone: none given
  bool is_new;   // also added to new_participants
};

// What a large cell gained since each log last carried it, so that the log can carry only
// that (v1::Cell.increment): a cell of thousands of participants is tens of kilobytes whole,
// and in a dense stream every hour and day cell changes between two flushes.
struct CellJournal {
  static constexpr uint32_t kNotCarried = std::numeric_limits<uint32_t>::max();
  std::vector<Addition> adds;
  // Per log, the position in `adds` up to which that log holds the cell; kNotCarried while
  // it has not carried the cell since the journal started (its next copy is whole).
  std::array<uint32_t, 2> carried = {kNotCarried, kNotCarried};

  // Forgets the additions that every log holds.
  void Trim() {
    uint32_t low = kNotCarried;
    for (uint32_t c : carried) low = std::min(low, c);
    if (low == kNotCarried) low = static_cast<uint32_t>(adds.size());
    if (low == 0) return;
    adds.erase(adds.begin(), adds.begin() + low);
    for (uint32_t& c : carried) {
      if (c != kNotCarried) c -= low;
    }
    // An idle cell (most are, once their bucket has passed) keeps no buffer.
    if (adds.empty()) std::vector<Addition>().swap(adds);
  }
};

// Everything applied for one (area, kind) in one bucket of one resolution.
struct CellState : CellContents {
  bool dirty = false;
  bool checkpoint_dirty = false;  // changed since the last checkpoint delta
  std::unique_ptr<CellJournal> journal;  // null for a small cell (carried whole)

  size_t MemoryBytes() const {
    size_t bytes = sizeof(*this) + HeapBytes();
    if (journal != nullptr) {
      bytes += sizeof(CellJournal) + journal->adds.capacity() * sizeof(Addition);
    }
    return bytes;
  }
};

// Participants from which a cell is journaled and may travel as increments: below it, the
// whole cell is a few hundred bytes and an increment saves little.
constexpr double kJournalFromParticipants = 32;

using CellMap = absl::flat_hash_map<int64_t, std::unique_ptr<CellState>>;

// One (area, kind): its cells per resolution and its cumulative totals.
struct Series {
  std::string area;
  Kind kind;
  std::array<CellMap, kWindowCount> cells;
  // Per resolution, at most the earliest start in `cells` (kNoCells: none since the last
  // eviction walk), so that EvictCells walks only a map holding something old enough: a
  // week's replay keeps days of 1-hour cells that no hourly eviction can touch, and walked
  // them all every hour of event time (`make bench`'s default week, 2,000 areas: EvictCells
  // 6.8% -> 4.7% of the aggregator's samples; what is left is destroying the cells).
  std::array<int64_t, kWindowCount> least_start = {kNoCells, kNoCells, kNoCells};
  // The cell last written per resolution: consecutive events mostly hit the same bucket.
  std::array<int64_t, kWindowCount> cached_start = {kNoTime, kNoTime, kNoTime};
  std::array<CellState*, kWindowCount> cached = {nullptr, nullptr, nullptr};
  uint64_t events = 0;
  std::array<uint64_t, kCoproductionTypeCount> coproduction_events = {};
  int64_t last_event_ms = 0;
  int64_t first_event_ms = 0;     // 0: none applied (or restored from a checkpoint without it)
  bool checkpoint_dirty = false;  // totals changed since the last checkpoint delta
  // Sealed hours (start ms -> figures) for the seasonal baseline, kBaselineHistoryMs back.
  HourlyFigures hours;
};

// A sealed hour of one series, waiting to be published or checkpointed.
struct SealedHour {
  uint32_t series;
  int64_t start_ms;
  friend bool operator<(const SealedHour& a, const SealedHour& b) {
    return a.series != b.series ? a.series < b.series : a.start_ms < b.start_ms;
  }
  friend bool operator==(const SealedHour&, const SealedHour&) = default;
};

// A cell changed since a log last took it. Eight bytes: a replay lists millions of them between
// two flushes (they were 27 MB of the aggregator's peak heap on a week's replay at 16 bytes).
// Cell starts are whole minutes (kWindows' cell widths, floored), and 32 bits of minutes reach
// 4,000 years either side of 1970, past any time the decoder accepts (RFC 3339's years, and
// nothing beyond the receiving clock's max_future). Series indices stay far below 2^30: they
// are area ids under the area cap times the kinds.
class DirtyCell {
 public:
  DirtyCell(uint32_t series, int resolution, int64_t start_ms)
      : series_and_resolution_(series << 2 | static_cast<uint32_t>(resolution)),
        start_minute_(static_cast<int32_t>(start_ms / kMinuteMs)) {}
  uint32_t series() const { return series_and_resolution_ >> 2; }
  int resolution() const { return static_cast<int>(series_and_resolution_ & 3); }
  int64_t start_ms() const { return int64_t{start_minute_} * kMinuteMs; }

 private:
  uint32_t series_and_resolution_;
  int32_t start_minute_;
};
static_assert(sizeof(DirtyCell) == 8);
static_assert(kWindowCount <= 4);

// Salt of an area in the new-participant memory's keys. Derived from the area's name, not
// its process-local id, so that checkpointed keys mean the same in every process.
uint64_t AreaSalt(std::string_view area) {
  return (HashParticipant(area) | 1) * 0x9E3779B97F4A7C15ULL;
}

}  // namespace

struct PartitionAggregator::State {
  State(const EngineOptions& o, AreaCap* a)
      : options(o), areas(a), dedup(o.dedup_horizon_ms, o.dedup_max_entries) {}

  EngineOptions options;
  AreaCap* areas;
  EventIdFilter dedup;

  // Folded area names only (what AreaCap returned), so this stays bounded by the cap.
  absl::flat_hash_map<std::string, uint32_t> area_ids;
  std::vector<std::string> area_names;  // by id
  std::vector<uint64_t> area_salts;     // by id: AreaSalt(name)
  std::vector<std::unique_ptr<Series>> series;  // index: area_id * kKindCount + kind - 1
  size_t live_series = 0;
  // (area, participant) -> largest event time applied; the "new participant" memory.
  HashTimeTable last_seen;
  std::vector<DirtyCell> dirty;
  // Checkpoint tracking (EnableCheckpoints): cells and series changed since the last delta,
  // and the participant sightings recorded since.
  bool checkpoints = false;
  // Per CellLog: large cells travel in it as increments (EnableIncrementalPublishing for the
  // aggregates, EnableCheckpoints for the changelog).
  std::array<bool, 2> increments = {false, false};
  std::vector<DirtyCell> checkpoint_cells;
  std::vector<uint32_t> checkpoint_series;
  std::vector<std::pair<uint64_t, int64_t>> checkpoint_sightings;
  // Hours sealed since the last TakeHistory, and since the last checkpoint.
  std::vector<SealedHour> sealed_to_publish;
  std::vector<SealedHour> sealed_to_checkpoint;
  std::vector<const ParticipantSketch*> union_scratch;  // SealHour's, kept for its capacity

  int64_t watermark = 0;
  int64_t max_event = 0;
  int64_t last_record_wall = kNoTime;
  int64_t evicted_at_watermark = 0;  // of the last Tick that did anything
  int64_t cells_evicted_at = 0;      // watermark of the last SealAndEvictCells
  int64_t swept_at_watermark = 0;
  // Hour of the earliest event applied (0: none yet), and the end of the last sealed hour.
  int64_t history_start = 0;
  int64_t sealed_until = 0;
  uint64_t applied = 0;
  uint64_t duplicate = 0;
  uint64_t late = 0;
  uint64_t invalid = 0;

  // PartitionAggregator::Prepare. The area's salt comes from a read-only look-up; a new area
  // has no slot nor cells yet. Only the series object is read here (a few hundred bytes for
  // each area and kind, mostly in cache); the cells are prefetched, not read, so that a
  // caller far ahead of Apply waits on nothing.
  PartitionAggregator::Prepared Prepare(const Event& event) const {
    PartitionAggregator::Prepared p;
    p.id_key = EventIdFilter::Key(event.event_id);
    if (event.has_participant) p.participant = HashParticipant(event.participant);
    dedup.Prefetch(p.id_key);
    auto known = area_ids.find(absl::string_view(event.area.data(), event.area.size()));
    if (known == area_ids.end()) return p;
    p.area_id = known->second;
    if (event.has_participant) last_seen.Prefetch(p.participant ^ area_salts[p.area_id]);
    const uint32_t index = IndexOf(p.area_id, event.kind);
    if (index >= series.size() || series[index] == nullptr) return p;  // kNoSeries too
    const Series& s = *series[index];
    for (int r = 0; r < kWindowCount; ++r) {
      if (s.cached_start[r] == FloorTo(event.occurred_at_ms, kWindows[r].cell_ms)) {
        PrefetchForRead(s.cached[r]);
      }
    }
    return p;
  }

  uint32_t AreaId(std::string_view raw) {
    // Fast path: an area that keeps its own name is in area_ids under that name.
    // (absl::string_view is not std::string_view in Debian's abseil.)
    if (auto it = area_ids.find(absl::string_view(raw.data(), raw.size()));
        it != area_ids.end()) {
      return it->second;
    }
    // Copy at once: the view points into AreaCap's storage.
    std::string folded(areas->Fold(raw));
    auto [it, inserted] = area_ids.try_emplace(std::move(folded), 0);
    if (inserted) {
      it->second = static_cast<uint32_t>(area_names.size());
      area_names.push_back(it->first);
      area_salts.push_back(AreaSalt(it->first));
    }
    return it->second;
  }

  // The index in `series` of (area, kind); kNoSeries for a kind the decoders never produce.
  static constexpr uint32_t kNoSeries = 0xFFFFFFFF;
  static uint32_t IndexOf(uint32_t area_id, Kind kind) {
    const int k = static_cast<int>(kind) - 1;
    if (k < 0 || k >= kKindCount) return kNoSeries;
    return area_id * kKindCount + static_cast<uint32_t>(k);
  }

  uint32_t SeriesIndex(uint32_t area_id, Kind kind) {
    const uint32_t index = IndexOf(area_id, kind);
    if (index == kNoSeries) std::abort();  // decoders never produce this
    if (index >= series.size()) series.resize(index + 1);
    if (series[index] == nullptr) {
      series[index] = std::make_unique<Series>();
      series[index]->kind = kind;
      series[index]->area = area_names[area_id];
      ++live_series;
    }
    return index;
  }

  CellState& CellFor(uint32_t index, int r, int64_t t) {
    Series& s = *series[index];
    const int64_t start = FloorTo(t, kWindows[r].cell_ms);
    CellState* cell;
    if (s.cached_start[r] == start) {
      cell = s.cached[r];
    } else {
      std::unique_ptr<CellState>& slot = s.cells[r][start];
      if (slot == nullptr) {
        slot = std::make_unique<CellState>();
        s.least_start[r] = std::min(s.least_start[r], start);
      }
      cell = slot.get();
      s.cached_start[r] = start;
      s.cached[r] = cell;
    }
    if (!cell->dirty) {
      cell->dirty = true;
      dirty.emplace_back(index, r, start);
    }
    if (checkpoints && !cell->checkpoint_dirty) {
      cell->checkpoint_dirty = true;
      checkpoint_cells.emplace_back(index, r, start);
    }
    return *cell;
  }

  // Restoring: the area keeps the (already folded) name it was checkpointed with.
  uint32_t RestoredAreaId(const std::string& name) {
    if (auto it = area_ids.find(name); it != area_ids.end()) return it->second;
    if (name != kOtherArea) areas->Fold(name);  // counts toward the cap like a live area
    auto [it, inserted] = area_ids.try_emplace(name, 0);
    it->second = static_cast<uint32_t>(area_names.size());
    area_names.push_back(it->first);
    area_salts.push_back(AreaSalt(it->first));
    return it->second;
  }

  static void WriteCellKey(const Series& s, int r, int64_t start, v1::Cell* cell) {
    cell->set_area(s.area);
    cell->set_kind(static_cast<v1::Kind>(static_cast<int>(s.kind)));
    cell->set_start_unix_seconds(start / 1000);
    cell->set_width_seconds(static_cast<int32_t>(kWindows[r].cell_ms / 1000));
  }

  // Writes cell `c` for `log`: as its increment since the log last carried it when its
  // journal has that and it is the smaller, whole otherwise; then notes that the log holds it.
  void WriteCell(CellLog log, const Series& s, int r, int64_t start, CellState& c, v1::Cell* cell) {
    WriteCellKey(s, r, start, cell);
    const CellJournal* j = c.journal.get();
    if (j == nullptr || j->carried[log] == CellJournal::kNotCarried ||
        !WriteIncrement(*j, j->carried[log], c, cell)) {
      c.ToProto(cell);
    }
    Carried(log, &c);
  }

  // The same, always whole (for a snapshot, which the reader starts over from).
  void WriteWholeCell(CellLog log, const Series& s, int r, int64_t start, CellState& c,
                      v1::Cell* cell) {
    WriteCellKey(s, r, start, cell);
    c.ToProto(cell);
    Carried(log, &c);
  }

  // Notes that `log` holds all of cell `c` now, and starts its journal once it is large.
  void Carried(CellLog log, CellState* c) {
    if (!increments[log]) return;
    if (c->journal == nullptr) {
      if (c->participants.exact() && c->participants.Estimate() < kJournalFromParticipants) {
        return;
      }
      c->journal = std::make_unique<CellJournal>();
    }
    c->journal->carried[log] = static_cast<uint32_t>(c->journal->adds.size());
    c->journal->Trim();
  }

  // Writes into `cell` the increment of `c` since position `from` of its journal: the sums
  // whole, and per sketch the participants added with the events they added (exact form,
  // hash order). Returns false and writes nothing when that would not be smaller than the
  // whole cell, or would not fit an exact sketch.
  static bool WriteIncrement(const CellJournal& j, uint32_t from, const CellContents& c,
                             v1::Cell* cell) {
    const size_t n = j.adds.size() - from;
    if (c.participants.exact() && static_cast<double>(n) >= c.participants.Estimate()) {
      return false;
    }
    thread_local std::vector<Addition> sorted;
    sorted.assign(j.adds.begin() + from, j.adds.end());
    std::sort(sorted.begin(), sorted.end(), [](const Addition& a, const Addition& b) {
      return a.hash != b.hash ? a.hash < b.hash : a.band < b.band;
    });
    size_t distinct = 0;
    bool all_new = true;
    for (size_t i = 0; i < sorted.size(); ++i) {
      distinct += i == 0 || sorted[i].hash != sorted[i - 1].hash ? 1 : 0;
      all_new = all_new && sorted[i].is_new;
    }
    if (distinct > ParticipantSketch::kExactLimit) return false;
    cell->set_increment(true);
    c.SumsToProto(cell);
    v1::ParticipantSketch* all = cell->mutable_participants();
    // Every event added a first sighting: the new participants are the participants.
    v1::ParticipantSketch* fresh = all_new ? nullptr : cell->mutable_new_participants();
    cell->set_new_are_participants(all_new);
    all->mutable_hashes()->Reserve(static_cast<int>(distinct));
    all->mutable_counts()->Reserve(static_cast<int>(distinct));
    std::array<v1::ParticipantSketch*, kAgeBandCount> bands = {};
    uint64_t total = 0;
    uint64_t total_new = 0;
    for (size_t i = 0; i < sorted.size();) {
      const uint64_t hash = sorted[i].hash;
      uint32_t count = 0;
      uint32_t new_count = 0;
      while (i < sorted.size() && sorted[i].hash == hash) {
        const AgeBand band = sorted[i].band;
        uint32_t band_count = 0;
        for (; i < sorted.size() && sorted[i].hash == hash && sorted[i].band == band; ++i) {
          ++band_count;
          new_count += sorted[i].is_new ? 1 : 0;
        }
        count += band_count;
        if (band == AgeBand::kNone) continue;
        v1::ParticipantSketch*& b = bands[static_cast<int>(band)];
        if (b == nullptr) {
          b = &(*cell->mutable_participants_by_age())[std::string(AgeBandName(band))];
        }
        b->add_hashes(hash);
        b->add_counts(band_count);
        b->set_total_count(b->total_count() + band_count);
      }
      all->add_hashes(hash);
      all->add_counts(count);
      total += count;
      if (fresh != nullptr && new_count > 0) {
        fresh->add_hashes(hash);
        fresh->add_counts(new_count);
        total_new += new_count;
      }
    }
    all->set_total_count(total);
    if (fresh != nullptr) fresh->set_total_count(total_new);
    return true;
  }

  static void WriteTotals(const Series& s, v1::AreaKindTotals* totals) {
    totals->set_area(s.area);
    totals->set_kind(static_cast<v1::Kind>(static_cast<int>(s.kind)));
    totals->set_events(s.events);
    for (uint64_t n : s.coproduction_events) totals->add_coproduction_events(n);
    totals->set_last_event_unix_ms(s.last_event_ms);
    totals->set_first_event_unix_ms(s.first_event_ms);
  }

  void WriteScalars(v1::PartitionScalars* out) const {
    out->set_watermark_unix_ms(watermark);
    out->set_max_event_unix_ms(max_event);
    out->set_applied(applied);
    out->set_duplicate(duplicate);
    out->set_late(late);
    out->set_invalid(invalid);
    out->set_swept_at_watermark_ms(swept_at_watermark);
    out->set_dedup_evicted(dedup.evicted());
    out->set_history_start_unix_ms(history_start);
    out->set_sealed_until_unix_ms(sealed_until);
  }

  // Writes `starts` (sorted) of series `s` as HourlyHistory messages of up to
  // kHoursPerMessage hours each, through `add` (which returns the message to fill).
  template <typename AddFn>
  static void WriteHistory(const Series& s, const std::vector<int64_t>& starts, AddFn add) {
    v1::HourlyHistory* h = nullptr;
    for (size_t i = 0; i < starts.size(); ++i) {
      auto it = s.hours.find(starts[i]);
      if (it == s.hours.end()) continue;  // evicted since
      if (h == nullptr || static_cast<size_t>(h->hour_start_unix_seconds_size()) >=
                              kHoursPerMessage) {
        h = add();
        h->set_area(s.area);
        h->set_kind(static_cast<v1::Kind>(static_cast<int>(s.kind)));
      }
      const HourFigures& f = it->second;
      h->add_hour_start_unix_seconds(starts[i] / 1000);
      h->add_events(f.events);
      h->add_participants_1h(f.participants_1h);
      h->add_participants_24h(f.participants_24h);
      h->add_participants_7d(f.participants_7d);
    }
  }

  // Writes the hours listed in `sealed` (any order, duplicates allowed) and clears it.
  template <typename AddFn>
  void WriteSealed(std::vector<SealedHour>* sealed, AddFn add) const {
    std::sort(sealed->begin(), sealed->end());
    sealed->erase(std::unique(sealed->begin(), sealed->end()), sealed->end());
    std::vector<int64_t> starts;
    for (size_t i = 0; i < sealed->size();) {
      const uint32_t index = (*sealed)[i].series;
      starts.clear();
      for (; i < sealed->size() && (*sealed)[i].series == index; ++i) {
        starts.push_back((*sealed)[i].start_ms);
      }
      if (index < series.size() && series[index] != nullptr) {
        WriteHistory(*series[index], starts, add);
      }
    }
    sealed->clear();
    if (sealed->capacity() > 65536) std::vector<SealedHour>().swap(*sealed);
  }

  static std::vector<int64_t> AllHours(const Series& s) {
    std::vector<int64_t> starts;
    starts.reserve(s.hours.size());
    for (const auto& [start, figures] : s.hours) starts.push_back(start);
    std::sort(starts.begin(), starts.end());
    return starts;
  }

  // Seals every hour that ended at or before W - grace since the last sealed one: no event
  // can be applied to it any more. Runs before EvictCells, which keeps every 1-hour cell a
  // pending hour's 7-day union needs (cells go once they end before W - 7 d - grace).
  void SealHours() {
    if (history_start == 0 || watermark == 0) return;
    const int64_t target = FloorTo(watermark - options.grace_ms, kHourMs);
    const int64_t from =
        std::max({sealed_until, history_start, target - kBaselineHistoryMs});
    if (target <= from) return;
    for (int64_t end = from + kHourMs; end <= target; end += kHourMs) {
      for (uint32_t index = 0; index < series.size(); ++index) {
        if (series[index] != nullptr) SealHour(index, end);
      }
    }
    sealed_until = target;
  }

  // Seals the hour of series `index` that ends at `end`; an hour with no event and nobody
  // in the day (or week) before is not stored (a missing hour reads as zeros).
  void SealHour(uint32_t index, int64_t end) {
    Series& s = *series[index];
    const CellMap& hourly = s.cells[kHourly];
    if (hourly.empty()) return;
    auto cell = [&hourly](int64_t start) -> const CellState* {
      auto it = hourly.find(start);
      return it == hourly.end() ? nullptr : it->second.get();
    };
    HourFigures f;
    if (const CellState* c = cell(end - kHourMs)) {
      f.events = c->events;
      f.participants_1h = std::llround(c->participants.Estimate());
    }
    std::vector<const ParticipantSketch*>& parts = union_scratch;
    parts.clear();
    for (int64_t start = end - kDayMs; start < end; start += kHourMs) {
      if (const CellState* c = cell(start)) parts.push_back(&c->participants);
    }
    f.participants_24h = std::llround(ParticipantSketch::UnionEstimate(parts));
    if (end % kDayMs == 0) {
      for (int64_t start = end - 7 * kDayMs; start < end - kDayMs; start += kHourMs) {
        if (const CellState* c = cell(start)) parts.push_back(&c->participants);
      }
      f.participants_7d = std::llround(ParticipantSketch::UnionEstimate(parts));
    }
    if (f.events == 0 && f.participants_24h == 0 && f.participants_7d <= 0) return;
    s.hours[end - kHourMs] = f;
    sealed_to_publish.push_back({index, end - kHourMs});
    if (checkpoints) sealed_to_checkpoint.push_back({index, end - kHourMs});
  }

  // Forgets sealed hours older than any baseline reads.
  void EvictHistory() {
    const int64_t limit = watermark - kBaselineHistoryMs;
    for (auto& s : series) {
      if (s == nullptr) continue;
      for (auto it = s->hours.begin(); it != s->hours.end();) {
        if (it->first < limit) {
          s->hours.erase(it++);
        } else {
          ++it;
        }
      }
    }
  }

  void ClearCheckpointTracking() {
    for (const DirtyCell& ref : checkpoint_cells) {
      if (CellState* c = FindCell(ref)) c->checkpoint_dirty = false;
    }
    checkpoint_cells.clear();
    for (uint32_t index : checkpoint_series) {
      if (index < series.size() && series[index] != nullptr) {
        series[index]->checkpoint_dirty = false;
      }
    }
    checkpoint_series.clear();
    checkpoint_sightings.clear();
    sealed_to_checkpoint.clear();
    dedup.ClearJournal();
    if (checkpoint_cells.capacity() > 65536) std::vector<DirtyCell>().swap(checkpoint_cells);
    if (checkpoint_sightings.capacity() > 65536) {
      std::vector<std::pair<uint64_t, int64_t>>().swap(checkpoint_sightings);
    }
  }

  CellState* FindCell(const DirtyCell& ref) {
    if (ref.series() >= series.size() || series[ref.series()] == nullptr) return nullptr;
    CellMap& cells = series[ref.series()]->cells[ref.resolution()];
    auto it = cells.find(ref.start_ms());
    return it == cells.end() ? nullptr : it->second.get();
  }

  // Drops cells no window can reach any more: a cell ending before W - window - grace can
  // neither be updated (events before W - grace are late) nor be read (windows start at
  // W - window), and W never moves back.
  void EvictCells() {
    for (auto& s : series) {
      if (s == nullptr) continue;
      for (int r = 0; r < kWindowCount; ++r) {
        const int64_t width = kWindows[r].cell_ms;
        const int64_t limit = watermark - kWindows[r].length_ms - options.grace_ms;
        // A cell is evicted when start + width < limit.
        if (s->least_start[r] >= limit - width) continue;
        CellMap& cells = s->cells[r];
        bool erased = false;
        int64_t least = kNoCells;
        for (auto it = cells.begin(); it != cells.end();) {
          if (it->first + width < limit) {
            cells.erase(it++);
            erased = true;
          } else {
            least = std::min(least, it->first);
            ++it;
          }
        }
        s->least_start[r] = least;
        if (erased) {
          s->cached_start[r] = kNoTime;
          s->cached[r] = nullptr;
          // A map keeps its capacity when emptied: after a burst (a replay moves hours of
          // event time between two calls) give the slots back.
          if (cells.capacity() > 4 * cells.size() + 64) cells.rehash(0);
        }
      }
    }
  }

  // Seals the hours the watermark has passed, then evicts the cells no window can read any
  // more. Tick calls it, and so does Apply once the watermark has moved kEvictCellsEveryMs
  // past the last call. Invisible to the results (sealing reads only hours no event can
  // change; TakeCells and TakeDelta leave out the cells evicted), so when it runs only
  // changes the memory held.
  void SealAndEvictCells() {
    cells_evicted_at = watermark;
    SealHours();  // before EvictCells: sealing reads the 1-hour cells of the last 7 days
    EvictCells();
  }

  // Forgets participants last seen before W - grace - horizon. Invisible to the results:
  // any event still applied has t >= W - grace, so such an entry is older than t - horizon
  // and would count as "not seen" anyway.
  void SweepParticipants() {
    const int64_t limit =
        watermark - options.grace_ms - options.new_participant_horizon_ms;
    last_seen.EraseBelow(limit);
  }

  static v1::Cell* AddCell(std::vector<v1::Cell>* out) { return &out->emplace_back(); }
  static v1::Cell* AddCell(google::protobuf::RepeatedPtrField<v1::Cell>* out) { return out->Add(); }

  // PartitionAggregator::TakeCells, into a std::vector or a RepeatedPtrField (which may live
  // on an arena: then so do the cells).
  template <typename Out>
  void TakeCells(Out* out, bool all) {
    State& s = *this;
    // A cell that starts before W - L of its window can never be read again (W only moves
    // forward, and the exporter drops such cells itself), so it is not published: during a
    // replay most short cells open and close between two flushes.
    auto readable = [&s](int resolution, int64_t start) {
      return s.watermark == 0 || start >= s.watermark - kWindows[resolution].length_ms;
    };
    if (all) {
      for (const auto& series : s.series) {
        if (series == nullptr) continue;
        for (int r = 0; r < kWindowCount; ++r) {
          // Sorted by start so a full re-publish reads in time order.
          std::vector<std::pair<int64_t, CellState*>> cells;
          cells.reserve(series->cells[r].size());
          for (auto& [start, cell] : series->cells[r]) cells.emplace_back(start, cell.get());
          std::sort(cells.begin(), cells.end());
          for (auto& [start, cell] : cells) {
            if (readable(r, start)) {
              s.WriteWholeCell(kAggregatesLog, *series, r, start, *cell, AddCell(out));
            } else {
              s.Carried(kAggregatesLog, cell);
            }
            cell->dirty = false;
          }
        }
      }
      s.dirty.clear();
      return;
    }
    for (const DirtyCell& ref : s.dirty) {
      const Series& series = *s.series[ref.series()];
      const int r = ref.resolution();
      const int64_t start = ref.start_ms();
      auto it = series.cells[r].find(start);
      if (it == series.cells[r].end()) continue;  // evicted since
      CellState& cell = *it->second;
      if (!cell.dirty) continue;
      if (readable(r, start)) {
        s.WriteCell(kAggregatesLog, series, r, start, cell, AddCell(out));
      } else {
        s.Carried(kAggregatesLog, &cell);  // never read again: the log needs nothing of it
      }
      cell.dirty = false;
    }
    s.dirty.clear();
    // A replay burst can leave a large, now idle list behind.
    if (s.dirty.capacity() > 65536) std::vector<DirtyCell>().swap(s.dirty);
  }
};

PartitionAggregator::PartitionAggregator(const EngineOptions& options, AreaCap* areas)
    : state_(std::make_unique<State>(options, areas)) {}

PartitionAggregator::PartitionAggregator(const EngineOptions& options, AreaCapOptions areas)
    : own_areas_(std::make_unique<AreaCap>(std::move(areas))),
      state_(std::make_unique<State>(options, own_areas_.get())) {}

PartitionAggregator::~PartitionAggregator() = default;

PartitionAggregator::Prepared PartitionAggregator::Prepare(const Event& event) const {
  return state_->Prepare(event);
}

Outcome PartitionAggregator::Apply(const Event& event, int64_t now_ms) {
  return Apply(event, state_->Prepare(event), now_ms);
}

Outcome PartitionAggregator::Apply(const Event& event, const Prepared& prepared, int64_t now_ms) {
  State& s = *state_;
  s.last_record_wall = now_ms;
  const int64_t t = event.occurred_at_ms;
  // Late before duplicate: a late event must not enter the dedup memory, or its on-time
  // twin could never be applied.
  if (s.watermark > 0 && t < s.watermark - s.options.grace_ms) {
    ++s.late;
    return Outcome::kLate;
  }
  const uint64_t participant = prepared.participant;
  if (s.dedup.SeenBefore(prepared.id_key, t)) {
    ++s.duplicate;
    return Outcome::kDuplicate;
  }
  ++s.applied;
  const int64_t hour = FloorTo(t, kHourMs);
  if (s.history_start == 0 || hour < s.history_start) s.history_start = hour;

  // A new area is only added once the event turns out not to be a duplicate.
  const uint32_t area_id =
      prepared.area_id != Prepared::kNoArea ? prepared.area_id : s.AreaId(event.area);
  const uint32_t index = s.SeriesIndex(area_id, event.kind);

  bool is_new = false;
  if (event.has_participant) {
    const uint64_t key = participant ^ s.area_salts[area_id];
    auto [seen, inserted] = s.last_seen.TryEmplace(key, t);
    int64_t last = t;
    if (inserted) {
      is_new = true;
    } else {
      const int64_t before = seen.get();
      is_new = before < t - s.options.new_participant_horizon_ms;
      if (before < t) {
        seen.set(t);
      } else {
        last = before;
      }
    }
    if (s.checkpoints) s.checkpoint_sightings.emplace_back(key, last);
  }
  const bool collective = event.mode == Mode::kCollective;
  const double volunteer_seconds =
      event.kind == Kind::kVolunteerShift ? event.hours * 3600.0 : 0.0;
  const double recycled_grams = event.kind == Kind::kRecycling ? event.weight_kg * 1000.0 : 0.0;
  const AgeBand band = event.age_band;

  for (int r = 0; r < kWindowCount; ++r) {
    CellState& c = s.CellFor(index, r, t);
    ++c.events;
    c.collective_events += collective ? 1 : 0;
    c.public_body_events += event.public_body ? 1 : 0;
    c.volunteer_seconds += volunteer_seconds;
    c.recycled_grams += recycled_grams;
    if (!event.has_participant) continue;
    ++c.attributed_events;
    c.AddParticipant(participant, is_new);
    if (c.journal != nullptr) c.journal->adds.push_back({participant, band, is_new});
    if (band != AgeBand::kNone) c.SketchOfBand(band).Add(participant);
  }

  Series& series = *s.series[index];
  if (s.checkpoints && !series.checkpoint_dirty) {
    series.checkpoint_dirty = true;
    s.checkpoint_series.push_back(index);
  }
  ++series.events;
  const int type = static_cast<int>(event.coproduction) - 1;
  if (type >= 0 && type < kCoproductionTypeCount) ++series.coproduction_events[type];
  series.last_event_ms = std::max(series.last_event_ms, t);
  if (series.first_event_ms == 0 || t < series.first_event_ms) series.first_event_ms = t;

  s.max_event = std::max(s.max_event, t);
  s.watermark = std::max(s.watermark, s.max_event - s.options.allowed_lateness_ms);
  if (s.watermark - s.cells_evicted_at >= kEvictCellsEveryMs) s.SealAndEvictCells();
  return Outcome::kApplied;
}

void PartitionAggregator::RecordInvalid() { ++state_->invalid; }

OutcomeCounts PartitionAggregator::outcome_counts() const {
  const State& s = *state_;
  return {.applied = s.applied,
          .duplicate = s.duplicate,
          .late = s.late,
          .invalid = s.invalid,
          .dedup_evicted = s.dedup.evicted()};
}

void PartitionAggregator::Tick(int64_t now_ms) {
  State& s = *state_;
  if (s.watermark > 0 && s.last_record_wall != kNoTime &&
      now_ms - s.last_record_wall > s.options.idle_timeout_ms) {
    s.watermark = std::max(s.watermark, now_ms - s.options.allowed_lateness_ms);
  }
  if (s.watermark == 0 || s.watermark == s.evicted_at_watermark) return;
  s.evicted_at_watermark = s.watermark;
  s.SealAndEvictCells();
  // Ids older than W - grace - horizon can only match events that are late anyway.
  s.dedup.Expire(s.watermark - s.options.grace_ms);
  if (s.watermark - s.swept_at_watermark >= kSweepEveryMs) {
    s.swept_at_watermark = s.watermark;
    s.SweepParticipants();
    s.EvictHistory();
  }
}

int64_t PartitionAggregator::watermark_ms() const { return state_->watermark; }
int64_t PartitionAggregator::max_event_ms() const { return state_->max_event; }
int64_t PartitionAggregator::history_start_ms() const { return state_->history_start; }

void PartitionAggregator::TakeHistory(std::vector<v1::HourlyHistory>* out, bool all) {
  State& s = *state_;
  auto add = [out] { return &out->emplace_back(); };
  if (!all) {
    s.WriteSealed(&s.sealed_to_publish, add);
    return;
  }
  for (const auto& series : s.series) {
    if (series != nullptr) State::WriteHistory(*series, State::AllHours(*series), add);
  }
  s.sealed_to_publish.clear();
}

void PartitionAggregator::TakeCells(std::vector<v1::Cell>* out, bool all) {
  state_->TakeCells(out, all);
}

void PartitionAggregator::TakeCells(google::protobuf::RepeatedPtrField<v1::Cell>* out, bool all) {
  state_->TakeCells(out, all);
}

void PartitionAggregator::FillProgress(v1::PartitionProgress* out) const {
  const State& s = *state_;
  out->Clear();
  out->set_watermark_unix_ms(s.watermark);
  out->set_max_event_unix_ms(s.max_event);
  for (const auto& series : s.series) {
    if (series == nullptr || series->events == 0) continue;
    State::WriteTotals(*series, out->add_totals());
  }
  out->set_applied(s.applied);
  out->set_duplicate(s.duplicate);
  out->set_late(s.late);
  out->set_invalid(s.invalid);
  out->set_history_start_unix_ms(s.history_start);
}

size_t PartitionAggregator::MemoryBytes() const {
  const State& s = *state_;
  size_t bytes = sizeof(State);
  bytes += s.area_ids.capacity() * (sizeof(std::pair<std::string, uint32_t>) + 1);
  bytes += s.area_names.capacity() * sizeof(std::string);
  for (const std::string& name : s.area_names) {
    if (name.capacity() > 15) bytes += 2 * (name.capacity() + 1);  // in both containers
  }
  bytes += s.series.capacity() * sizeof(s.series[0]);
  for (const auto& series : s.series) {
    if (series == nullptr) continue;
    bytes += sizeof(Series);
    for (const CellMap& cells : series->cells) {
      bytes += cells.capacity() * (sizeof(CellMap::value_type) + 1);
      for (const auto& [start, cell] : cells) bytes += cell->MemoryBytes();
    }
    bytes += series->hours.capacity() * (sizeof(HourlyFigures::value_type) + 1);
  }
  bytes += s.last_seen.MemoryBytes();
  bytes += s.dirty.capacity() * sizeof(DirtyCell);
  bytes += s.dedup.MemoryBytes();
  return bytes;
}

size_t PartitionAggregator::cell_count() const {
  size_t n = 0;
  for (const auto& series : state_->series) {
    if (series == nullptr) continue;
    for (const CellMap& cells : series->cells) n += cells.size();
  }
  return n;
}

size_t PartitionAggregator::series_count() const { return state_->live_series; }

}  // namespace civicpulse::core

// --- Checkpoints ------------------------------------------------------------------------

namespace civicpulse::core {
namespace {

int ResolutionOfWidth(int32_t width_seconds) {
  for (int r = 0; r < kWindowCount; ++r) {
    if (kWindows[r].cell_ms == int64_t{width_seconds} * 1000) return r;
  }
  return -1;
}

// Rough encoded size of one id/time pair in a StatePiece (fixed64 + varint time).
constexpr size_t kPairBytes = 16;

}  // namespace

void PartitionAggregator::EnableCheckpoints() {
  State& s = *state_;
  s.checkpoints = true;
  s.increments[kChangelog] = true;
  s.dedup.set_journal(true);
}

void PartitionAggregator::EnableIncrementalPublishing() {
  state_->increments[kAggregatesLog] = true;
}

namespace {

// Appends state to pieces of about `max_bytes` each: a new piece starts when the next item
// would overflow the current one (an item larger than that gets a piece of its own).
// `Pieces` is a std::vector or a RepeatedPtrField of v1::StatePiece; the pieces' messages
// are allocated where the pieces live (arena() is null for the heap).
template <typename Pieces>
class PieceSplitter {
 public:
  PieceSplitter(size_t max_bytes, Pieces* out)
      : max_bytes_(max_bytes), out_(out), piece_(AddPiece(out)) {}
  // The piece to add an item of about `bytes` to.
  v1::StatePiece* Room(size_t bytes) {
    if (bytes_ > 0 && bytes_ + bytes > max_bytes_) {
      piece_ = AddPiece(out_);
      bytes_ = 0;
    }
    bytes_ += bytes;
    return piece_;
  }
  // The first piece (for the scalars); with a std::vector, valid only until the next Room().
  v1::StatePiece* first() const { return first_; }
  google::protobuf::Arena* arena() const { return piece_->GetArena(); }

 private:
  v1::StatePiece* AddPiece(std::vector<v1::StatePiece>* out) {
    v1::StatePiece* piece = &out->emplace_back();
    if (first_ == nullptr) first_ = piece;
    return piece;
  }
  v1::StatePiece* AddPiece(google::protobuf::RepeatedPtrField<v1::StatePiece>* out) {
    v1::StatePiece* piece = out->Add();
    if (first_ == nullptr) first_ = piece;
    return piece;
  }

  size_t max_bytes_;
  Pieces* out_;
  v1::StatePiece* first_ = nullptr;
  v1::StatePiece* piece_;
  size_t bytes_ = 0;
};

}  // namespace

void PartitionAggregator::TakeDelta(size_t max_piece_bytes, std::vector<v1::StatePiece>* out) {
  TakeDeltaInto(max_piece_bytes, out);
}

void PartitionAggregator::TakeDelta(size_t max_piece_bytes,
                                    google::protobuf::RepeatedPtrField<v1::StatePiece>* out) {
  TakeDeltaInto(max_piece_bytes, out);
}

void PartitionAggregator::WriteSnapshot(size_t max_piece_bytes, std::vector<v1::StatePiece>* out) {
  WriteSnapshotInto(max_piece_bytes, out);
}

void PartitionAggregator::WriteSnapshot(size_t max_piece_bytes,
                                        google::protobuf::RepeatedPtrField<v1::StatePiece>* out) {
  WriteSnapshotInto(max_piece_bytes, out);
}

template <typename Pieces>
void PartitionAggregator::TakeDeltaInto(size_t max_piece_bytes, Pieces* out) {
  State& s = *state_;
  PieceSplitter<Pieces> pieces(max_piece_bytes, out);
  s.WriteScalars(pieces.first()->mutable_scalars());
  for (const DirtyCell& ref : s.checkpoint_cells) {
    CellState* cell = s.FindCell(ref);
    if (cell == nullptr || !cell->checkpoint_dirty) continue;  // evicted since
    // Written where the pieces live, then moved in: no copy, on the heap or an arena.
    v1::Cell* proto = google::protobuf::Arena::CreateMessage<v1::Cell>(pieces.arena());
    s.WriteCell(kChangelog, *s.series[ref.series()], ref.resolution(), ref.start_ms(), *cell,
                proto);
    pieces.Room(proto->ByteSizeLong() + 8)->mutable_cells()->AddAllocated(proto);
  }
  for (uint32_t index : s.checkpoint_series) {
    if (index < s.series.size() && s.series[index] != nullptr) {
      State::WriteTotals(*s.series[index], pieces.Room(64)->add_totals());
    }
  }
  std::vector<std::pair<uint64_t, int64_t>> ids;
  s.dedup.TakeJournal(&ids);
  for (const auto& [hash, time] : ids) {
    v1::StatePiece* piece = pieces.Room(kPairBytes);
    piece->add_event_id_hashes(hash);
    piece->add_event_id_times_ms(time);
  }
  for (const auto& [key, time] : s.checkpoint_sightings) {
    v1::StatePiece* piece = pieces.Room(kPairBytes);
    piece->add_participant_keys(key);
    piece->add_participant_times_ms(time);
  }
  s.WriteSealed(&s.sealed_to_checkpoint, [&pieces] { return pieces.Room(64)->add_history(); });
  s.ClearCheckpointTracking();
}

template <typename Pieces>
void PartitionAggregator::WriteSnapshotInto(size_t max_piece_bytes, Pieces* out) {
  State& s = *state_;
  PieceSplitter<Pieces> pieces(max_piece_bytes, out);
  s.WriteScalars(pieces.first()->mutable_scalars());
  for (const auto& series : s.series) {
    if (series == nullptr) continue;
    State::WriteTotals(*series, pieces.Room(64)->add_totals());
    for (int r = 0; r < kWindowCount; ++r) {
      for (const auto& [start, cell] : series->cells[r]) {
        v1::Cell* proto = google::protobuf::Arena::CreateMessage<v1::Cell>(pieces.arena());
        s.WriteWholeCell(kChangelog, *series, r, start, *cell, proto);
        pieces.Room(proto->ByteSizeLong() + 8)->mutable_cells()->AddAllocated(proto);
      }
    }
  }
  s.dedup.ForEach([&](uint64_t hash, int64_t time) {
    v1::StatePiece* piece = pieces.Room(kPairBytes);
    piece->add_event_id_hashes(hash);
    piece->add_event_id_times_ms(time);
  });
  s.last_seen.ForEach([&pieces](uint64_t key, int64_t time) {
    v1::StatePiece* piece = pieces.Room(kPairBytes);
    piece->add_participant_keys(key);
    piece->add_participant_times_ms(time);
  });
  for (const auto& series : s.series) {
    if (series == nullptr || series->hours.empty()) continue;
    std::vector<v1::HourlyHistory> history;
    State::WriteHistory(*series, State::AllHours(*series),
                        [&history] { return &history.emplace_back(); });
    for (v1::HourlyHistory& h : history) {
      pieces.Room(h.ByteSizeLong() + 8)->add_history()->Swap(&h);
    }
  }
  s.ClearCheckpointTracking();
}

absl::Status PartitionAggregator::ApplyPiece(const v1::StatePiece& piece, int64_t now_ms) {
  State& s = *state_;
  if (piece.event_id_hashes_size() != piece.event_id_times_ms_size() ||
      piece.participant_keys_size() != piece.participant_times_ms_size()) {
    return absl::DataLossError("checkpoint piece: id and time lists differ in length");
  }
  for (const v1::Cell& proto : piece.cells()) {
    const int r = ResolutionOfWidth(proto.width_seconds());
    const int k = static_cast<int>(proto.kind()) - 1;
    if (r < 0 || k < 0 || k >= kKindCount) {
      return absl::DataLossError("checkpoint piece: cell of unknown width or kind");
    }
    const uint32_t index =
        s.SeriesIndex(s.RestoredAreaId(proto.area()), static_cast<Kind>(k + 1));
    Series& series = *s.series[index];
    const int64_t start = proto.start_unix_seconds() * 1000;
    std::unique_ptr<CellState>& slot = series.cells[r][start];
    series.least_start[r] = std::min(series.least_start[r], start);
    if (proto.increment()) {
      // Onto the cell the batches before left (a cell they never had starts empty).
      if (slot == nullptr) slot = std::make_unique<CellState>();
      if (absl::Status st = slot->MergeIncrement(proto); !st.ok()) return st;
    } else {
      auto cell = std::make_unique<CellState>();
      if (absl::Status st = cell->FromProto(proto); !st.ok()) return st;
      slot = std::move(cell);
    }
    series.cached_start[r] = kNoTime;
    series.cached[r] = nullptr;
  }
  for (const v1::AreaKindTotals& totals : piece.totals()) {
    const int k = static_cast<int>(totals.kind()) - 1;
    if (k < 0 || k >= kKindCount) {
      return absl::DataLossError("checkpoint piece: totals of an unknown kind");
    }
    Series& series =
        *s.series[s.SeriesIndex(s.RestoredAreaId(totals.area()), static_cast<Kind>(k + 1))];
    series.events = totals.events();
    for (int i = 0; i < kCoproductionTypeCount; ++i) {
      series.coproduction_events[i] =
          i < totals.coproduction_events_size() ? totals.coproduction_events(i) : 0;
    }
    series.last_event_ms = totals.last_event_unix_ms();
    series.first_event_ms = totals.first_event_unix_ms();
  }
  for (const v1::HourlyHistory& h : piece.history()) {
    const int k = static_cast<int>(h.kind()) - 1;
    const int n = h.hour_start_unix_seconds_size();
    if (k < 0 || k >= kKindCount || h.events_size() != n || h.participants_1h_size() != n ||
        h.participants_24h_size() != n || h.participants_7d_size() != n) {
      return absl::DataLossError("checkpoint piece: malformed hourly history");
    }
    Series& series =
        *s.series[s.SeriesIndex(s.RestoredAreaId(h.area()), static_cast<Kind>(k + 1))];
    for (int i = 0; i < n; ++i) {
      series.hours[h.hour_start_unix_seconds(i) * 1000] = {
          h.events(i), h.participants_1h(i), h.participants_24h(i), h.participants_7d(i)};
    }
  }
  for (int i = 0; i < piece.event_id_hashes_size(); ++i) {
    s.dedup.Restore(piece.event_id_hashes(i), piece.event_id_times_ms(i));
  }
  for (int i = 0; i < piece.participant_keys_size(); ++i) {
    const int64_t seen = piece.participant_times_ms(i);
    auto [time, inserted] = s.last_seen.TryEmplace(piece.participant_keys(i), seen);
    if (!inserted && time.get() < seen) time.set(seen);
  }
  if (piece.has_scalars()) {
    const v1::PartitionScalars& sc = piece.scalars();
    s.watermark = sc.watermark_unix_ms();
    s.max_event = sc.max_event_unix_ms();
    s.applied = sc.applied();
    s.duplicate = sc.duplicate();
    s.late = sc.late();
    s.invalid = sc.invalid();
    s.swept_at_watermark = sc.swept_at_watermark_ms();
    s.dedup.set_evicted(sc.dedup_evicted());
    s.history_start = sc.history_start_unix_ms();
    s.sealed_until = sc.sealed_until_unix_ms();
  }
  // Evict what the restored watermark no longer reaches at the next Tick, and start the idle
  // clock now (a restored partition is not idle just because its owner changed).
  s.evicted_at_watermark = 0;
  s.cells_evicted_at = 0;
  if (s.watermark > 0) s.last_record_wall = now_ms;
  return absl::OkStatus();
}

}  // namespace civicpulse::core
