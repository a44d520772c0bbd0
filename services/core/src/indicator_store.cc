#include "civicpulse/core/indicator_store.h"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <string_view>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "cell_contents.h"
#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/participant_sketch.h"
#include "civicpulse/v1/aggregate.pb.h"

namespace civicpulse::core {
namespace {

// Resolution index (into kWindows) of a cell width, or -1.
int ResolutionOf(int32_t width_seconds) {
  for (int r = 0; r < kWindowCount; ++r) {
    if (kWindows[r].cell_ms == int64_t{width_seconds} * 1000) return r;
  }
  return -1;
}

// Kind index 0..kKindCount-1 of a wire kind, or -1.
int KindIndex(v1::Kind kind) {
  const int k = static_cast<int>(kind) - 1;
  return k >= 0 && k < kKindCount ? k : -1;
}

Kind KindOf(int index) { return static_cast<Kind>(index + 1); }

// Floor and ceiling of a non-negative time to a multiple of `step`.
int64_t FloorTo(int64_t t, int64_t step) { return t / step * step; }
int64_t CeilTo(int64_t t, int64_t step) { return (t + step - 1) / step * step; }

// Cells per block, by resolution: 10 min of 1-minute cells (1h window), 2 h of 15-minute
// cells (24h), 1 day of 1-hour cells (7d). A window's whole blocks are merged once.
constexpr std::array<int64_t, kWindowCount> kBlockCells = {10, 8, 24};
// The newest cells of a window (still filling; late events land there), merged every time.
constexpr std::array<int64_t, kWindowCount> kRecentCells = {10, 2, 2};

int64_t BlockMs(int r) { return kBlockCells[r] * kWindows[r].cell_ms; }

// Identity of a cell within one timeline: start first, so a timeline iterates in time order.
struct SlotKey {
  int64_t start_ms;
  std::string area;  // the aggregator's (unfolded) area name
  int kind;

  friend auto operator<=>(const SlotKey&, const SlotKey&) = default;
};

struct StoredCell : CellContents {
  int64_t offset = 0;
  int kind = 0;
};

// The merged contents of a run of cells of one folded area and resolution: what a window,
// or part of one, adds up to.
struct WindowPart {
  std::array<ParticipantSketch, kKindCount> by_kind;
  ParticipantSketch new_participants;
  std::array<ParticipantSketch, kAgeBandCount> by_age;
  std::array<uint64_t, kKindCount> events_by_kind = {};
  uint64_t events = 0;
  uint64_t collective_events = 0;
  uint64_t public_body_events = 0;
  double volunteer_seconds = 0;
  double recycled_grams = 0;

  void AddCell(const StoredCell& c) {
    by_kind[c.kind].Merge(c.participants);
    new_participants.Merge(c.new_participants());
    for (const auto& [band, sketch] : c.by_age) by_age[static_cast<int>(band)].Merge(sketch);
    events_by_kind[c.kind] += c.events;
    events += c.events;
    collective_events += c.collective_events;
    public_body_events += c.public_body_events;
    volunteer_seconds += c.volunteer_seconds;
    recycled_grams += c.recycled_grams;
  }

  void Merge(const WindowPart& o) {
    for (int k = 0; k < kKindCount; ++k) {
      by_kind[k].Merge(o.by_kind[k]);
      events_by_kind[k] += o.events_by_kind[k];
    }
    new_participants.Merge(o.new_participants);
    for (int b = 0; b < kAgeBandCount; ++b) by_age[b].Merge(o.by_age[b]);
    events += o.events;
    collective_events += o.collective_events;
    public_body_events += o.public_body_events;
    volunteer_seconds += o.volunteer_seconds;
    recycled_grams += o.recycled_grams;
  }

  void Clear() { *this = WindowPart(); }

  size_t HeapBytes() const {
    size_t bytes = new_participants.MemoryBytes();
    for (const ParticipantSketch& s : by_kind) bytes += s.MemoryBytes();
    for (const ParticipantSketch& s : by_age) bytes += s.MemoryBytes();
    return bytes;
  }
};

// A cached merge of the cells whose start is in [lo, hi).
struct Segment {
  bool valid = false;
  int64_t lo = 0;
  int64_t hi = 0;
  WindowPart part;
};

// The cells of one source partition for one folded area and one resolution, in time order,
// with the merged parts of its current window (see the header's "incremental").
struct Timeline {
  uint32_t area = 0;
  int resolution = 0;
  std::map<SlotKey, StoredCell> cells;
  std::array<uint32_t, kKindCount> cells_by_kind = {};
  // Merged whole blocks by start; only valid ones are held.
  std::map<int64_t, WindowPart> blocks;
  Segment front, middle, back;
  // The window's cell starts [lo, hi) at the last Compute (lo > hi before any), and the
  // start of its recent cells.
  int64_t lo = 1;
  int64_t hi = 0;
  int64_t recent = 0;

  // A cell starting at `start_ms` was added, replaced or removed.
  void Changed(int64_t start_ms) {
    for (Segment* s : {&front, &middle, &back}) {
      if (s->valid && s->lo <= start_ms && start_ms < s->hi) s->valid = false;
    }
    blocks.erase(FloorTo(start_ms, BlockMs(resolution)));
  }

  template <typename F>
  void ForCells(int64_t lo_ms, int64_t hi_ms, F f) const {
    for (auto it = cells.lower_bound(SlotKey{lo_ms, std::string(), -1});
         it != cells.end() && it->first.start_ms < hi_ms; ++it) {
      f(it->second);
    }
  }

  // Brings `s` to the cells of [x, y): extends it when only its end moved forward.
  // Returns whether it changed anything.
  bool Update(Segment* s, int64_t x, int64_t y) {
    if (x >= y) {
      if (s->valid && s->lo == x && s->hi == x) return false;
      s->part.Clear();
      *s = Segment{.valid = true, .lo = x, .hi = x};
      return true;
    }
    if (s->valid && s->lo == x && s->hi == y) return false;
    if (!(s->valid && s->lo == x && s->hi <= y)) {
      s->part.Clear();
      s->valid = true;
      s->lo = s->hi = x;
    }
    ForCells(s->hi, y, [s](const StoredCell& c) { s->part.AddCell(c); });
    s->hi = y;
    return true;
  }

  const WindowPart& Block(int64_t start_ms) {
    auto [it, inserted] = blocks.try_emplace(start_ms);
    if (inserted) {
      ForCells(start_ms, start_ms + BlockMs(resolution),
               [&it](const StoredCell& c) { it->second.AddCell(c); });
    }
    return it->second;
  }

  // The middle: whole blocks [x, y), merged from the blocks' own merges. Returns whether it
  // changed anything.
  bool UpdateMiddle(int64_t x, int64_t y) {
    blocks.erase(blocks.begin(), blocks.lower_bound(x));  // behind the window for good
    Segment* s = &middle;
    if (s->valid && s->lo == x && s->hi == std::max(x, y)) return false;
    if (!(s->valid && s->lo == x && s->hi <= y)) {
      s->part.Clear();
      s->valid = true;
      s->lo = s->hi = x;
    }
    const int64_t step = BlockMs(resolution);
    for (int64_t b = s->hi; b < y; b += step) s->part.Merge(Block(b));
    s->hi = std::max(s->hi, y);
    return true;
  }

  // Brings the front, middle and back to the window [lo, hi); returns whether any changed.
  bool UpdateSegments() {
    const int64_t cell = kWindows[resolution].cell_ms;
    const int64_t block = BlockMs(resolution);
    recent = std::clamp(hi - kRecentCells[resolution] * cell, lo, hi);
    const int64_t first_block = std::min(CeilTo(lo, block), recent);
    const int64_t last_block = std::max(first_block, FloorTo(recent, block));
    bool changed = Update(&front, lo, first_block);
    changed |= UpdateMiddle(first_block, last_block);
    changed |= Update(&back, last_block, recent);
    return changed;
  }

  // Merges the front, middle and back into `out` (after UpdateSegments).
  void AddStable(WindowPart* out) const {
    // The largest first: a merge into an empty sketch is a copy, not one insert per person.
    out->Merge(middle.part);
    out->Merge(back.part);
    out->Merge(front.part);
  }

  // Merges the recent cells [recent, hi) into `out` and their participants into `people`.
  void AddRecent(WindowPart* out, ParticipantSketch* people) const {
    ForCells(recent, hi, [out, people](const StoredCell& c) {
      out->AddCell(c);
      people->Merge(c.participants);
    });
  }

  size_t HeapBytes() const {
    size_t bytes = front.part.HeapBytes() + middle.part.HeapBytes() + back.part.HeapBytes();
    for (const auto& [key, c] : cells) {
      bytes += sizeof(std::pair<const SlotKey, StoredCell>) + 32 + c.HeapBytes();
      bytes += key.area.capacity() > 15 ? key.area.capacity() : 0;
    }
    for (const auto& [start, part] : blocks) bytes += sizeof(WindowPart) + 32 + part.HeapBytes();
    return bytes;
  }
};

struct StoredTotals {
  std::string raw_area;  // as the aggregator named it (the history's key)
  uint32_t area = 0;     // folded area index
  int kind = 0;
  uint64_t events = 0;
  std::array<uint64_t, kCoproductionTypeCount> coproduction_events = {};
  int64_t last_event_ms = 0;
  int64_t first_event_ms = 0;  // 0: not known
};

struct SourcePartition {
  bool has_progress = false;
  int64_t progress_offset = 0;
  int64_t watermark_ms = 0;
  int64_t history_start_ms = 0;
  int64_t history_evicted_at_ms = 0;
  // (aggregator's area name, kind index) -> sealed hours. Sealed hours never change, so an
  // hour simply replaces what is held for it, whatever the order records arrive in.
  absl::flat_hash_map<std::pair<std::string, int>, HourlyFigures> history;
  std::vector<StoredTotals> totals;
  // (folded area, resolution) -> its cells.
  absl::flat_hash_map<std::pair<uint32_t, int>, Timeline> timelines;
};

// The union of the kinds of `part`, merged largest first (the first merge is a copy).
ParticipantSketch UnionOfKinds(const WindowPart& part) {
  std::array<int, kKindCount> order;
  for (int k = 0; k < kKindCount; ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&part](int x, int y) {
    return part.by_kind[x].total_events() > part.by_kind[y].total_events();
  });
  ParticipantSketch out;
  for (int k : order) out.Merge(part.by_kind[k]);
  return out;
}

// One area's (or the city's) window, merged over the source partitions, and its figures.
// `stable` is the union of the windows' fronts, middles and backs (which change only when
// a window's edge passes a cell or a cell in them changes); the window is a copy of it plus
// the recent cells.
struct AreaWindow {
  bool stable_valid = false;
  WindowPart stable;
  ParticipantSketch stable_participants;  // all kinds
  WindowPart part;
  ParticipantSketch participants;  // all kinds
  std::array<double, kKindCount> active = {};
  double active_all = 0;
  double new_participants = 0;
  double concentration = 0;
  bool unfinished = false;  // grown by AddGain since the last Finish

  void SetStable(WindowPart merged) {
    stable = std::move(merged);
    stable_participants = UnionOfKinds(stable);
    stable_valid = true;
  }

  // Starts the window from the stable part; the recent cells are merged next.
  void StartWindow() {
    part = stable;
    participants = stable_participants;
  }

  // Adds what one of the window's cells gained (`gain`: the participants its increment
  // added and the change of its sums) to the window as it stands: a union whose
  // counts add, as a merge of the grown cell would give. Finish() is due next.
  void AddGain(const StoredCell& gain) {
    part.AddCell(gain);
    participants.Merge(gain.participants);
    unfinished = true;
  }

  // Estimates the figures of the window.
  void Finish() {
    unfinished = false;
    for (int k = 0; k < kKindCount; ++k) active[k] = part.by_kind[k].Estimate();
    active_all = participants.Estimate();
    new_participants = part.new_participants.Estimate();
    // Of all the window's events, anonymous ones included (design.md): the most active
    // tenth's share of the attributed events, times the attributed events' share of all.
    concentration = part.events == 0 ? 0.0
                                     : participants.TopDecileShare() *
                                           static_cast<double>(participants.total_events()) /
                                           static_cast<double>(part.events);
  }
};

double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

WindowIndicators FiguresOf(const AreaWindow& w) {
  return {.new_participants = w.new_participants,
          .volunteer_seconds = w.part.volunteer_seconds,
          .recycled_grams = w.part.recycled_grams,
          .collective_ratio = Ratio(w.part.collective_events, w.part.events),
          .coproduction_ratio = Ratio(w.part.public_body_events, w.part.events),
          .concentration_ratio = w.concentration};
}

}  // namespace

struct IndicatorStore::State {
  explicit State(IndicatorOptions o) : options(std::move(o)), areas(options.areas) {
    AreaIndex(std::string(kOtherArea));  // index 0: what the unlabelled areas fold into
  }

  // A memory guard against a hostile producer of the aggregates topic: aggregators send at
  // most --max-areas names per input partition. Past it, new names fold into "other" as
  // they arrive (order-dependent, the one exception to SelectAreaLabels' rule).
  static constexpr size_t kMaxAreaNames = 200'000;
  static constexpr uint32_t kOtherId = 0;

  IndicatorOptions options;
  AreaCap areas;  // with an areas file only: folds unlisted names on arrival
  // The aggregators' area names (already "other" where an aggregator folded them); which
  // keep their name as a label is decided over the whole set in Compute (LabelIds).
  absl::flat_hash_map<std::string, uint32_t> area_ids;
  std::vector<std::string> area_names;  // by index
  // Ordered so Compute merges in a stable order.
  std::map<std::pair<std::string, int32_t>, SourcePartition> partitions;
  uint64_t rejected = 0;
  uint64_t windows_recomputed = 0;

  // Compute's caches: each area's windows (by area index), the city's, and which of them
  // changed since the last Compute.
  std::vector<std::array<AreaWindow, kWindowCount>> area_windows;
  std::vector<std::array<bool, kWindowCount>> dirty;
  std::array<AreaWindow, kWindowCount> city;
  std::array<std::array<double, kWindowCount>, kAgeBandCount> by_age = {};

  uint32_t AreaIndex(const std::string& raw) {
    if (auto it = area_ids.find(raw); it != area_ids.end()) return it->second;
    // An allow-list depends on the name alone, so it can fold on arrival; the max_areas
    // rule depends on the set of names and is applied in Compute.
    std::string name = !options.areas.allowed.empty() && raw != kOtherArea
                           ? std::string(areas.Fold(raw))
                           : raw;
    if (!area_ids.contains(name) && area_names.size() >= kMaxAreaNames) return kOtherId;
    auto [it, inserted] = area_ids.try_emplace(std::move(name), 0);
    if (inserted) {
      it->second = static_cast<uint32_t>(area_names.size());
      area_names.push_back(it->first);
      area_windows.emplace_back();
      dirty.push_back({true, true, true});
    }
    return it->second;
  }

  // The label of every area index: itself or kOtherId (core/area_cap.h, SelectAreaLabels).
  // Depends on the names held and when each was first seen in event time (the least first
  // event of its totals over every source partition), never on the order records came in.
  std::vector<uint32_t> LabelIds() const {
    std::vector<int64_t> first_seen(area_names.size(), 0);
    for (const auto& [id, p] : partitions) {
      for (const StoredTotals& t : p.totals) {
        int64_t& first = first_seen[t.area];
        if (t.first_event_ms > 0 && (first == 0 || t.first_event_ms < first)) {
          first = t.first_event_ms;
        }
      }
    }
    const std::vector<bool> keep = SelectAreaLabels(options.areas, area_names, first_seen);
    std::vector<uint32_t> label(area_names.size(), kOtherId);
    for (size_t a = 0; a < area_names.size(); ++a) {
      if (keep[a]) label[a] = static_cast<uint32_t>(a);
    }
    return label;
  }

  void MarkDirty(const Timeline& t) { dirty[t.area][t.resolution] = true; }

  void Evict(SourcePartition* p) {
    if (p->watermark_ms <= 0) return;
    for (auto it = p->timelines.begin(); it != p->timelines.end();) {
      Timeline& t = it->second;
      const int64_t limit = p->watermark_ms - kWindows[t.resolution].length_ms;
      bool changed = false;
      while (!t.cells.empty() && t.cells.begin()->first.start_ms < limit) {
        const int64_t start = t.cells.begin()->first.start_ms;
        --t.cells_by_kind[t.cells.begin()->second.kind];
        t.cells.erase(t.cells.begin());
        t.Changed(start);
        changed = true;
      }
      if (changed) MarkDirty(t);
      if (t.cells.empty()) {
        area_windows[t.area][t.resolution].stable_valid = false;
        p->timelines.erase(it++);
      } else {
        ++it;
      }
    }
  }

  // Forgets a source partition's cells (a reset, or before it is erased).
  void DropTimelines(SourcePartition* p) {
    for (auto& [key, t] : p->timelines) {
      MarkDirty(t);
      area_windows[t.area][t.resolution].stable_valid = false;
    }
    p->timelines.clear();
  }

  void ApplyProgress(int64_t offset, const v1::PartitionProgress& progress,
                     SourcePartition* p) {
    if (p->has_progress && offset < p->progress_offset) return;  // older snapshot
    p->has_progress = true;
    p->progress_offset = offset;
    if (p->watermark_ms > 0 && progress.watermark_unix_ms() <= 0) {
      // Its cells leave every window without leaving the store (no watermark any more).
      for (auto& [key, t] : p->timelines) {
        MarkDirty(t);
        area_windows[t.area][t.resolution].stable_valid = false;
        t.lo = 1;  // no longer a member of any window (UpdateWindows places it again)
        t.hi = 0;
      }
    }
    p->watermark_ms = progress.watermark_unix_ms();
    p->history_start_ms = progress.history_start_unix_ms();
    p->totals.clear();
    for (const v1::AreaKindTotals& t : progress.totals()) {
      const int kind = KindIndex(t.kind());
      if (kind < 0) {
        ++rejected;
        continue;
      }
      StoredTotals& stored = p->totals.emplace_back();
      stored.raw_area = t.area();
      stored.area = AreaIndex(t.area());
      stored.kind = kind;
      stored.events = t.events();
      for (int i = 0; i < kCoproductionTypeCount && i < t.coproduction_events_size(); ++i) {
        stored.coproduction_events[i] = t.coproduction_events(i);
      }
      stored.last_event_ms = t.last_event_unix_ms();
      stored.first_event_ms = t.first_event_unix_ms();
    }
    Evict(p);
    EvictHistory(p);
  }

  // Forgets hours no baseline reads any more, once per hour of watermark progress.
  static void EvictHistory(SourcePartition* p) {
    if (p->watermark_ms - p->history_evicted_at_ms < kHourMs) return;
    p->history_evicted_at_ms = p->watermark_ms;
    const int64_t limit = p->watermark_ms - kBaselineHistoryMs;
    for (auto& [key, hours] : p->history) {
      for (auto it = hours.begin(); it != hours.end();) {
        if (it->first < limit) {
          hours.erase(it++);
        } else {
          ++it;
        }
      }
    }
  }

  void ApplyHistory(const v1::HourlyHistory& h, SourcePartition* p) {
    const int kind = KindIndex(h.kind());
    const int n = h.hour_start_unix_seconds_size();
    if (kind < 0 || h.events_size() != n || h.participants_1h_size() != n ||
        h.participants_24h_size() != n || h.participants_7d_size() != n) {
      ++rejected;
      return;
    }
    AreaIndex(h.area());  // an area known only from its history still takes its place
    HourlyFigures& hours = p->history[{h.area(), kind}];
    for (int i = 0; i < n; ++i) {
      hours[h.hour_start_unix_seconds(i) * 1000] = {h.events(i), h.participants_1h(i),
                                                    h.participants_24h(i),
                                                    h.participants_7d(i)};
    }
  }

  void ApplyCell(int64_t offset, const v1::Cell& cell, SourcePartition* p) {
    const int r = ResolutionOf(cell.width_seconds());
    const int kind = KindIndex(cell.kind());
    const int64_t start_ms = cell.start_unix_seconds() * 1000;
    // Aggregators align cells to their width; windows are ranges of aligned starts.
    if (r < 0 || kind < 0 || start_ms < 0 || start_ms % kWindows[r].cell_ms != 0) {
      ++rejected;
      return;
    }
    // Out of every window's reach already (W only grows): keeping it would only cost memory.
    if (p->watermark_ms > 0 && start_ms < p->watermark_ms - kWindows[r].length_ms) return;
    const uint32_t area = AreaIndex(cell.area());
    auto timeline = p->timelines.find({area, r});
    SlotKey key{start_ms, cell.area(), kind};
    StoredCell* held = nullptr;
    if (timeline != p->timelines.end()) {
      auto it = timeline->second.cells.find(key);
      if (it != timeline->second.cells.end()) {
        if (offset < it->second.offset) return;  // older snapshot
        held = &it->second;
      }
    }
    if (cell.increment() && held != nullptr) {
      // What the cell gained since the batch before, onto the cell held.
      StoredCell gain;
      if (!held->MergeIncrement(cell, &gain).ok()) {
        ++rejected;
        return;
      }
      gain.kind = kind;
      held->offset = offset;
      Timeline& t = timeline->second;
      t.Changed(start_ms);
      WindowCellChanged(t, start_ms, &gain);
      return;
    }
    // A whole cell, or an increment of one not held (onto an empty one).
    StoredCell stored;
    const absl::Status read =
        cell.increment() ? stored.MergeIncrement(cell) : stored.FromProto(cell);
    if (!read.ok()) {
      ++rejected;
      return;
    }
    stored.offset = offset;
    stored.kind = kind;
    if (timeline == p->timelines.end()) {
      timeline = p->timelines.try_emplace({area, r}).first;
      timeline->second.area = area;
      timeline->second.resolution = r;
    }
    if (held != nullptr) {
      *held = std::move(stored);
    } else {
      timeline->second.cells.emplace(std::move(key), std::move(stored));
      ++timeline->second.cells_by_kind[kind];
    }
    Timeline& t = timeline->second;
    t.Changed(start_ms);
    WindowCellChanged(t, start_ms, nullptr);
  }

  // Cell `start_ms` of timeline `t` changed (`gain`: what an increment added to it, null for
  // a whole cell). A cell outside the window of the last Compute leaves its figures as they
  // are: on an on-time stream most are (events land after the watermark, where the windows
  // end), and the window takes them in when the watermark moves it. An increment of a cell
  // in the window (the rest land there: the 24h and 7d windows end in the 15-minute and
  // 1-hour cell that holds the watermark) is added to the area's and the city's windows as
  // they stand, if nothing else has changed them since (a stable part it touched was
  // invalidated by Timeline::Changed and is merged again when the window next is); anything
  // else merges the window again.
  void WindowCellChanged(Timeline& t, int64_t start_ms, const StoredCell* gain) {
    const bool placed = t.lo <= t.hi;  // a member of its area's window at the last Compute
    if (placed && (start_ms < t.lo || start_ms >= t.hi)) return;
    AreaWindow& w = area_windows[t.area][t.resolution];
    if (gain != nullptr && placed && !dirty[t.area][t.resolution] && w.stable_valid) {
      w.AddGain(*gain);
      city[t.resolution].AddGain(*gain);
      return;
    }
    MarkDirty(t);
  }

  // Brings every area's windows and the city's up to date: merges again only the windows
  // whose edges moved or whose cells changed since the last call.
  void UpdateWindows() {
    const size_t area_count = area_names.size();
    std::vector<std::array<std::vector<Timeline*>, kWindowCount>> members(area_count);
    for (auto& [id, p] : partitions) {
      if (p.watermark_ms <= 0) continue;
      for (auto& [key, t] : p.timelines) {
        const WindowSpec& window = kWindows[t.resolution];
        const int64_t lo = WindowStart(p.watermark_ms, window);
        const int64_t hi = lo + window.length_ms;
        if (lo != t.lo || hi != t.hi) {
          t.lo = lo;
          t.hi = hi;
          MarkDirty(t);
        }
        members[t.area][t.resolution].push_back(&t);
      }
    }
    for (int r = 0; r < kWindowCount; ++r) {
      bool any = false;
      std::vector<const WindowPart*> parts;
      // A window merged again, or grown by increments of its cells (AddGain), is estimated.
      for (size_t a = 0; a < area_count; ++a) {
        AreaWindow& w = area_windows[a][r];
        if (dirty[a][r]) {
          dirty[a][r] = false;
          any = true;
          ++windows_recomputed;
          bool stable_changed = !w.stable_valid;
          for (Timeline* t : members[a][r]) stable_changed |= t->UpdateSegments();
          if (stable_changed) {
            WindowPart merged;  // the timelines' stable parts, merged
            for (Timeline* t : members[a][r]) t->AddStable(&merged);
            w.SetStable(std::move(merged));
            city[r].stable_valid = false;
          }
          w.StartWindow();
          for (Timeline* t : members[a][r]) t->AddRecent(&w.part, &w.participants);
        } else if (!w.unfinished) {
          continue;
        }
        w.Finish();
      }
      // The city, when an area's window was merged again: the areas' stable parts (merged
      // again only when one changed), then every recent cell.
      AreaWindow& c = city[r];
      if (any) {
        ++windows_recomputed;
        if (!c.stable_valid) {
          parts.clear();
          for (const auto& windows : area_windows) parts.push_back(&windows[r].stable);
          std::sort(parts.begin(), parts.end(),
                    [](const WindowPart* x, const WindowPart* y) { return x->events > y->events; });
          WindowPart merged;
          for (const WindowPart* part : parts) merged.Merge(*part);
          c.SetStable(std::move(merged));
        }
        c.StartWindow();
        for (const auto& by_resolution : members) {
          for (Timeline* t : by_resolution[r]) t->AddRecent(&c.part, &c.participants);
        }
      } else if (!c.unfinished) {
        continue;
      }
      c.Finish();
      for (int b = 1; b < kAgeBandCount; ++b) by_age[b][r] = c.part.by_age[b].Estimate();
    }
  }

  // The seasonal expectation of every series with totals (docs/baseline.md), from the
  // observed events of `series[i]`'s window in `observed[i]`.
  // `area_of[i]` is the area index of `series[i]`, -1 for the city.
  void AddExpectations(const std::vector<uint32_t>& label, const std::vector<int>& area_of,
                       const std::vector<std::array<uint64_t, kWindowCount>>& observed,
                       std::vector<SeriesIndicators>* series) const {
    using Weeks = std::array<WeeklyValues, kWindowCount>;
    constexpr int kAllKinds = kKindCount;  // index of kind="all"
    std::vector<std::array<Weeks, kKindCount + 1>> by_area(area_names.size());
    std::array<Weeks, kKindCount + 1> city_weeks;
    const HourlyFigures no_history;
    for (const auto& [id, p] : partitions) {
      if (p.watermark_ms <= 0) continue;
      std::array<int64_t, kWindowCount> starts;
      for (int r = 0; r < kWindowCount; ++r) starts[r] = WindowStart(p.watermark_ms, kWindows[r]);
      for (const StoredTotals& t : p.totals) {
        auto it = p.history.find(std::make_pair(t.raw_area, t.kind));
        const HourlyFigures& hours = it == p.history.end() ? no_history : it->second;
        for (int r = 0; r < kWindowCount; ++r) {
          const WeeklyValues v = SameWindowInPreviousWeeks(
              hours, starts[r], kWindows[r], p.history_start_ms, options.baseline);
          by_area[label[t.area]][t.kind][r].Add(v);
          by_area[label[t.area]][kAllKinds][r].Add(v);
          city_weeks[t.kind][r].Add(v);
          city_weeks[kAllKinds][r].Add(v);
        }
      }
    }
    for (size_t i = 0; i < series->size(); ++i) {
      SeriesIndicators& s = (*series)[i];
      if (!s.has_totals) continue;
      const int k = s.kind.has_value() ? static_cast<int>(*s.kind) - 1 : kAllKinds;
      const Weeks& weeks = area_of[i] < 0 ? city_weeks[k] : by_area[area_of[i]][k];
      for (int r = 0; r < kWindowCount; ++r) {
        s.expected[r] = Expect(weeks[r], options.baseline);
        s.participation_ratio[r] =
            ParticipationRatio(static_cast<double>(observed[i][r]), s.expected[r].events);
      }
    }
  }
};

IndicatorStore::IndicatorStore(IndicatorOptions options)
    : state_(std::make_unique<State>(std::move(options))) {}

IndicatorStore::~IndicatorStore() = default;

void IndicatorStore::Apply(const v1::PartialAggregate& record) {
  State& s = *state_;
  if (record.body_case() == v1::PartialAggregate::BODY_NOT_SET) {
    ++s.rejected;
    return;
  }
  SourcePartition& p = s.partitions[{record.source_topic(), record.source_partition()}];
  if (record.has_progress()) {
    s.ApplyProgress(record.source_offset(), record.progress(), &p);
  } else if (record.has_history()) {
    s.ApplyHistory(record.history(), &p);
  } else if (record.has_cells()) {
    for (const v1::Cell& cell : record.cells().cells()) {
      s.ApplyCell(record.source_offset(), cell, &p);
    }
    for (const v1::HourlyHistory& history : record.cells().history()) {
      s.ApplyHistory(history, &p);
    }
  } else {
    s.ApplyCell(record.source_offset(), record.cell(), &p);
  }
}

void IndicatorStore::ResetSource(const std::string& topic, int32_t partition) {
  auto it = state_->partitions.find({topic, partition});
  if (it == state_->partitions.end()) return;
  state_->DropTimelines(&it->second);
  state_->partitions.erase(it);
}

uint64_t IndicatorStore::rejected_records() const { return state_->rejected; }
uint64_t IndicatorStore::windows_recomputed() const { return state_->windows_recomputed; }

Indicators IndicatorStore::Compute() {
  State& s = *state_;
  const size_t area_count = s.area_names.size();
  // Areas are merged by label: each area that keeps its name is its own group, the others
  // fold into "other" (index 0).
  const std::vector<uint32_t> label = s.LabelIds();

  // Which (area, kind) have any state, and the cumulative totals.
  struct KindTotals {
    bool present = false;
    bool has_totals = false;
    uint64_t events = 0;
    std::array<uint64_t, kCoproductionTypeCount> coproduction_events = {};
    int64_t last_event_ms = 0;
  };
  std::vector<std::array<KindTotals, kKindCount>> totals(area_count);
  int64_t min_watermark = std::numeric_limits<int64_t>::max();
  for (const auto& [id, p] : s.partitions) {
    if (p.watermark_ms > 0) min_watermark = std::min(min_watermark, p.watermark_ms);
    for (const StoredTotals& t : p.totals) {
      KindTotals& k = totals[label[t.area]][t.kind];
      k.present = k.has_totals = true;
      k.events += t.events;
      for (int i = 0; i < kCoproductionTypeCount; ++i) {
        k.coproduction_events[i] += t.coproduction_events[i];
      }
      k.last_event_ms = std::max(k.last_event_ms, t.last_event_ms);
    }
    for (const auto& [key, t] : p.timelines) {
      for (int k = 0; k < kKindCount; ++k) {
        if (t.cells_by_kind[k] > 0) totals[label[t.area]][k].present = true;
      }
    }
  }
  s.UpdateWindows();
  // The windows of "other": the folded areas' windows merged (kept areas use their own).
  std::array<AreaWindow, kWindowCount> other_windows;
  bool folded = false;
  for (size_t a = 1; a < area_count && !folded; ++a) folded = label[a] != a;
  if (folded) {
    for (int r = 0; r < kWindowCount; ++r) {
      WindowPart merged;
      for (size_t a = 0; a < area_count; ++a) {
        if (label[a] == State::kOtherId) merged.Merge(s.area_windows[a][r].part);
      }
      other_windows[r].SetStable(std::move(merged));
      other_windows[r].StartWindow();
      other_windows[r].Finish();
    }
  }
  auto windows_of = [&](uint32_t a) -> const std::array<AreaWindow, kWindowCount>& {
    return a == State::kOtherId && folded ? other_windows : s.area_windows[a];
  };

  // Areas in name order; the city last.
  std::vector<uint32_t> order;
  for (size_t a = 0; a < area_count; ++a) {
    for (int k = 0; k < kKindCount; ++k) {
      if (totals[a][k].present) {
        order.push_back(static_cast<uint32_t>(a));
        break;
      }
    }
  }
  std::sort(order.begin(), order.end(),
            [&](uint32_t x, uint32_t y) { return s.area_names[x] < s.area_names[y]; });

  Indicators out;
  std::vector<int> area_of;  // per series: area index, -1 for the city
  std::vector<std::array<uint64_t, kWindowCount>> observed;  // per series: window events
  auto add_series = [&](int area, std::optional<Kind> kind, bool has_totals,
                        const std::array<AreaWindow, kWindowCount>& windows) {
    SeriesIndicators& row = out.series.emplace_back();
    row.area = area < 0 ? std::string(kAllLabel) : s.area_names[area];
    row.city = area < 0;
    row.kind = kind;
    row.has_totals = has_totals;
    std::array<uint64_t, kWindowCount>& events = observed.emplace_back();
    for (int r = 0; r < kWindowCount; ++r) {
      const AreaWindow& w = windows[r];
      const int k = kind.has_value() ? static_cast<int>(*kind) - 1 : -1;
      row.active_participants[r] = k < 0 ? w.active_all : w.active[k];
      events[r] = k < 0 ? w.part.events : w.part.events_by_kind[k];
    }
    area_of.push_back(area);
    return &row;
  };
  std::array<bool, kKindCount> kind_present = {};
  std::array<bool, kKindCount> kind_counted = {};
  for (uint32_t a : order) {
    AreaIndicators& area = out.areas.emplace_back();
    area.area = s.area_names[a];
    const std::array<AreaWindow, kWindowCount>& windows = windows_of(a);
    for (int r = 0; r < kWindowCount; ++r) area.windows[r] = FiguresOf(windows[r]);
    for (int k = 0; k < kKindCount; ++k) {
      const KindTotals& t = totals[a][k];
      if (!t.present) continue;
      kind_present[k] = true;
      SeriesIndicators* row = add_series(static_cast<int>(a), KindOf(k), t.has_totals, windows);
      if (!t.has_totals) continue;
      kind_counted[k] = true;
      area.has_totals = true;
      row->events = t.events;
      row->last_event_ms = t.last_event_ms;
      for (int i = 0; i < kCoproductionTypeCount; ++i) {
        area.coproduction_events[i] += t.coproduction_events[i];
      }
    }
    add_series(static_cast<int>(a), std::nullopt, area.has_totals, windows);
  }
  for (int k = 0; k < kKindCount; ++k) {
    if (kind_present[k]) add_series(-1, KindOf(k), kind_counted[k], s.city);
  }
  add_series(-1, std::nullopt, true, s.city);
  s.AddExpectations(label, area_of, observed, &out.series);

  AreaIndicators& city = out.areas.emplace_back();
  city.area = std::string(kAllLabel);
  city.city = true;
  for (int r = 0; r < kWindowCount; ++r) city.windows[r] = FiguresOf(s.city[r]);
  out.participants_by_age = s.by_age;
  out.residents = s.options.residents;
  out.partitions = s.partitions.size();
  out.min_watermark_ms = min_watermark == std::numeric_limits<int64_t>::max() ? 0 : min_watermark;
  return out;
}

size_t IndicatorStore::MemoryBytes() const {
  const State& s = *state_;
  size_t bytes = sizeof(State) + s.area_names.capacity() * sizeof(std::string) +
                 s.area_ids.capacity() * (sizeof(std::pair<std::string, uint32_t>) + 1);
  for (const auto& windows : s.area_windows) {
    for (const AreaWindow& w : windows) {
      bytes += sizeof(AreaWindow) + w.part.HeapBytes() + w.participants.MemoryBytes();
    }
  }
  for (const auto& [id, p] : s.partitions) {
    bytes += sizeof(SourcePartition) + id.first.capacity() + 64;
    bytes += p.totals.capacity() * sizeof(StoredTotals);
    bytes += p.timelines.capacity() * (sizeof(std::pair<std::pair<uint32_t, int>, Timeline>) + 1);
    for (const auto& [key, t] : p.timelines) bytes += t.HeapBytes();
  }
  return bytes;
}

}  // namespace civicpulse::core
