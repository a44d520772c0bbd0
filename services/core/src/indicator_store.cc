#include "civicpulse/core/indicator_store.h"

#include <algorithm>
#include <array>
#include <functional>
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

// Identity of a cell within one source partition, by the aggregator's (unfolded) area name.
struct CellKey {
  std::string area;
  int kind;
  int resolution;
  int64_t start_ms;

  friend bool operator==(const CellKey&, const CellKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const CellKey& k) {
    return H::combine(std::move(h), k.area, k.kind, k.resolution, k.start_ms);
  }
};

struct StoredCell : CellContents {
  int64_t offset = 0;
  uint32_t area = 0;  // area index (the aggregator's name; labels are chosen in Compute)
  int kind = 0;
  int resolution = 0;
  int64_t start_ms = 0;
};

struct StoredTotals {
  std::string raw_area;  // as the aggregator named it (the history's key)
  uint32_t area = 0;     // area index
  int kind = 0;
  uint64_t events = 0;
  std::array<uint64_t, kCoproductionTypeCount> coproduction_events = {};
  int64_t last_event_ms = 0;
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
  absl::flat_hash_map<CellKey, StoredCell> cells;
};

// What one window of one area adds up to.
struct WindowAcc {
  std::array<ParticipantSketch, kKindCount> by_kind;
  ParticipantSketch participants;  // all kinds
  ParticipantSketch new_participants;
  std::array<uint64_t, kKindCount> events_by_kind = {};
  uint64_t events = 0;
  uint64_t collective_events = 0;
  uint64_t public_body_events = 0;
  double volunteer_seconds = 0;
  double recycled_grams = 0;

  void AddSums(const WindowAcc& other) {
    for (int k = 0; k < kKindCount; ++k) events_by_kind[k] += other.events_by_kind[k];
    events += other.events;
    collective_events += other.collective_events;
    public_body_events += other.public_body_events;
    volunteer_seconds += other.volunteer_seconds;
    recycled_grams += other.recycled_grams;
  }
};

double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

using Labels = std::vector<std::pair<std::string, std::string>>;

IndicatorFamily& AddFamily(std::vector<IndicatorFamily>* out, std::string name,
                           std::string help, MetricType type) {
  IndicatorFamily& f = out->emplace_back();
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddSeries(IndicatorFamily* family, Labels labels, double value) {
  family->series.push_back({std::move(labels), value});
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
    }
    return it->second;
  }

  // The label of every area index: itself or kOtherId (core/area_cap.h, SelectAreaLabels).
  // Depends on the set of names held, never on the order they came in.
  std::vector<uint32_t> LabelIds() const {
    const std::vector<bool> keep = SelectAreaLabels(options.areas, area_names);
    std::vector<uint32_t> label(area_names.size(), kOtherId);
    for (size_t a = 0; a < area_names.size(); ++a) {
      if (keep[a]) label[a] = static_cast<uint32_t>(a);
    }
    return label;
  }

  static void Evict(SourcePartition* p) {
    if (p->watermark_ms <= 0) return;
    for (auto it = p->cells.begin(); it != p->cells.end();) {
      const StoredCell& c = it->second;
      if (c.start_ms < p->watermark_ms - kWindows[c.resolution].length_ms) {
        p->cells.erase(it++);
      } else {
        ++it;
      }
    }
  }

  void ApplyProgress(int64_t offset, const v1::PartitionProgress& progress,
                     SourcePartition* p) {
    if (p->has_progress && offset < p->progress_offset) return;  // older snapshot
    p->has_progress = true;
    p->progress_offset = offset;
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

  // civicpulse_expected_events, _expected_active_participants, _participation_ratio and
  // _baseline_ready for every (area, kind) with totals, each area's kind="all", and
  // area="all" (docs/baseline.md). `acc` and `city` hold the observed window sums.
  void AddBaselineFamilies(const std::vector<uint32_t>& label,
                           const std::vector<uint32_t>& order,
                           const std::vector<std::array<bool, kKindCount>>& has_series,
                           const std::vector<std::array<WindowAcc, kWindowCount>>& acc,
                           const std::array<WindowAcc, kWindowCount>& city,
                           std::vector<IndicatorFamily>* out) const {
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

    struct Row {
      std::string area, kind;
      bool one_series;  // participants are exported for single series only
      std::array<Expectation, kWindowCount> expected;
      std::array<double, kWindowCount> observed;
    };
    std::vector<Row> rows;
    auto add_row = [&](const std::string& area, int kind, bool one_series, const Weeks& weeks,
                       const std::array<WindowAcc, kWindowCount>& observed) {
      Row& row = rows.emplace_back();
      row.area = area;
      row.kind = kind == kAllKinds ? std::string(kAllLabel) : std::string(KindName(KindOf(kind)));
      row.one_series = one_series;
      for (int r = 0; r < kWindowCount; ++r) {
        row.expected[r] = Expect(weeks[r], options.baseline);
        row.observed[r] = static_cast<double>(
            kind == kAllKinds ? observed[r].events : observed[r].events_by_kind[kind]);
      }
    };
    std::array<bool, kKindCount> kind_present = {};
    for (uint32_t a : order) {
      bool any = false;
      for (int k = 0; k < kKindCount; ++k) {
        if (!has_series[a][k]) continue;
        any = kind_present[k] = true;
        add_row(area_names[a], k, true, by_area[a][k], acc[a]);
      }
      if (any) add_row(area_names[a], kAllKinds, false, by_area[a][kAllKinds], acc[a]);
    }
    const std::string all(kAllLabel);
    for (int k = 0; k < kKindCount; ++k) {
      if (kind_present[k]) add_row(all, k, false, city_weeks[k], city);
    }
    add_row(all, kAllKinds, false, city_weeks[kAllKinds], city);

    // One family at a time: AddFamily's reference is invalidated by the next.
    auto window_family = [&](std::string name, std::string help, bool one_series_only,
                             const std::function<double(const Row&, int)>& value) {
      IndicatorFamily& f = AddFamily(out, std::move(name), std::move(help), MetricType::kGauge);
      for (const Row& row : rows) {
        if (one_series_only && !row.one_series) continue;
        for (int r = 0; r < kWindowCount; ++r) {
          if (!row.expected[r].ready) continue;
          AddSeries(&f,
                    {{"area", row.area},
                     {"kind", row.kind},
                     {"window", std::string(kWindows[r].label)}},
                    value(row, r));
        }
      }
    };
    window_family("civicpulse_expected_events",
                  "Seasonal expectation of events in the trailing window: median of the same "
                  "window in previous weeks (docs/baseline.md); absent until ready.",
                  false, [](const Row& row, int r) { return row.expected[r].events; });
    window_family("civicpulse_expected_active_participants",
                  "Seasonal expectation of distinct participants in the trailing window "
                  "(single area and kind only); absent until ready.",
                  true, [](const Row& row, int r) { return row.expected[r].participants; });
    window_family("civicpulse_participation_ratio",
                  "Observed events / expected events in the trailing window (1 when both are "
                  "0); absent until the baseline is ready.",
                  false, [](const Row& row, int r) {
                    return ParticipationRatio(row.observed[r], row.expected[r].events);
                  });
    IndicatorFamily& ready = AddFamily(
        out, "civicpulse_baseline_ready",
        "1 once enough previous weeks (default 3, holidays aside) exist for "
        "the 1h window's expectation.",
        MetricType::kGauge);
    for (const Row& row : rows) {
      AddSeries(&ready, {{"area", row.area}, {"kind", row.kind}},
                row.expected[0].ready ? 1.0 : 0.0);
    }
  }

  void ApplyCell(int64_t offset, const v1::Cell& cell, SourcePartition* p) {
    const int r = ResolutionOf(cell.width_seconds());
    const int kind = KindIndex(cell.kind());
    if (r < 0 || kind < 0) {
      ++rejected;
      return;
    }
    const int64_t start_ms = cell.start_unix_seconds() * 1000;
    // Out of every window's reach already (W only grows): keeping it would only cost memory.
    if (p->watermark_ms > 0 && start_ms < p->watermark_ms - kWindows[r].length_ms) return;
    CellKey key{cell.area(), kind, r, start_ms};
    auto it = p->cells.find(key);
    if (it != p->cells.end() && offset < it->second.offset) return;  // older snapshot

    StoredCell stored;
    if (!stored.FromProto(cell).ok()) {
      ++rejected;
      return;
    }
    stored.offset = offset;
    stored.area = AreaIndex(cell.area());
    stored.kind = kind;
    stored.resolution = r;
    stored.start_ms = start_ms;
    if (it != p->cells.end()) {
      it->second = std::move(stored);
    } else {
      p->cells.emplace(std::move(key), std::move(stored));
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
  state_->partitions.erase({topic, partition});
}

uint64_t IndicatorStore::rejected_records() const { return state_->rejected; }

std::vector<IndicatorFamily> IndicatorStore::Compute() const {
  const State& s = *state_;
  const size_t area_count = s.area_names.size();
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
    for (const auto& [key, c] : p.cells) totals[label[c.area]][c.kind].present = true;
  }
  std::vector<bool> area_present(area_count, false);
  std::array<bool, kKindCount> kind_present = {};
  for (size_t a = 0; a < area_count; ++a) {
    for (int k = 0; k < kKindCount; ++k) {
      if (totals[a][k].present) {
        area_present[a] = true;
        kind_present[k] = true;
      }
    }
  }

  // Window sums per area, and the city-wide age bands.
  std::vector<std::array<WindowAcc, kWindowCount>> acc(area_count);
  std::array<std::array<ParticipantSketch, kAgeBandCount>, kWindowCount> ages;
  for (const auto& [id, p] : s.partitions) {
    if (p.watermark_ms <= 0) continue;
    for (const auto& [key, c] : p.cells) {
      const WindowSpec& window = kWindows[c.resolution];
      if (c.start_ms < p.watermark_ms - window.length_ms || c.start_ms >= p.watermark_ms) {
        continue;
      }
      WindowAcc& w = acc[label[c.area]][c.resolution];
      w.by_kind[c.kind].Merge(c.participants);
      w.new_participants.Merge(c.new_participants);
      w.events_by_kind[c.kind] += c.events;
      w.events += c.events;
      w.collective_events += c.collective_events;
      w.public_body_events += c.public_body_events;
      w.volunteer_seconds += c.volunteer_seconds;
      w.recycled_grams += c.recycled_grams;
      for (const auto& [band, sketch] : c.by_age) {
        ages[c.resolution][static_cast<int>(band)].Merge(sketch);
      }
    }
  }
  std::array<WindowAcc, kWindowCount> city;
  for (size_t a = 0; a < area_count; ++a) {
    if (!area_present[a]) continue;
    for (int r = 0; r < kWindowCount; ++r) {
      WindowAcc& w = acc[a][r];
      for (int k = 0; k < kKindCount; ++k) {
        w.participants.Merge(w.by_kind[k]);
        city[r].by_kind[k].Merge(w.by_kind[k]);
      }
      city[r].participants.Merge(w.participants);
      city[r].new_participants.Merge(w.new_participants);
      city[r].AddSums(w);
    }
  }

  // Areas in name order; "all" last.
  std::vector<uint32_t> order;
  for (size_t a = 0; a < area_count; ++a) {
    if (area_present[a]) order.push_back(static_cast<uint32_t>(a));
  }
  std::sort(order.begin(), order.end(),
            [&](uint32_t x, uint32_t y) { return s.area_names[x] < s.area_names[y]; });
  const std::string all(kAllLabel);
  auto window_label = [](int r) { return std::string(kWindows[r].label); };

  std::vector<IndicatorFamily> out;
  {
    IndicatorFamily& f = AddFamily(&out, "civicpulse_events_total",
                                   "Events applied, by area and kind.", MetricType::kCounter);
    for (uint32_t a : order) {
      for (int k = 0; k < kKindCount; ++k) {
        if (!totals[a][k].has_totals) continue;
        AddSeries(&f, {{"area", s.area_names[a]}, {"kind", std::string(KindName(KindOf(k)))}},
                  static_cast<double>(totals[a][k].events));
      }
    }
  }
  {
    IndicatorFamily& f = AddFamily(
        &out, "civicpulse_active_participants",
        "Distinct participants in the trailing window; kind=\"all\" and area=\"all\" are unions.",
        MetricType::kGauge);
    auto add = [&](const std::string& area, const std::string& kind,
                   const std::array<const ParticipantSketch*, kWindowCount>& sketches) {
      for (int r = 0; r < kWindowCount; ++r) {
        AddSeries(&f, {{"area", area}, {"kind", kind}, {"window", window_label(r)}},
                  sketches[r]->Estimate());
      }
    };
    for (uint32_t a : order) {
      for (int k = 0; k < kKindCount; ++k) {
        if (!totals[a][k].present) continue;
        add(s.area_names[a], std::string(KindName(KindOf(k))),
            {&acc[a][0].by_kind[k], &acc[a][1].by_kind[k], &acc[a][2].by_kind[k]});
      }
      add(s.area_names[a], all,
          {&acc[a][0].participants, &acc[a][1].participants, &acc[a][2].participants});
    }
    for (int k = 0; k < kKindCount; ++k) {
      if (!kind_present[k]) continue;
      add(all, std::string(KindName(KindOf(k))),
          {&city[0].by_kind[k], &city[1].by_kind[k], &city[2].by_kind[k]});
    }
    add(all, all, {&city[0].participants, &city[1].participants, &city[2].participants});
  }

  // Per-area window gauges, area="all" last.
  auto area_family = [&](std::string name, std::string help,
                         const std::function<double(const WindowAcc&)>& value) {
    IndicatorFamily& f = AddFamily(&out, std::move(name), std::move(help), MetricType::kGauge);
    for (uint32_t a : order) {
      for (int r = 0; r < kWindowCount; ++r) {
        AddSeries(&f, {{"area", s.area_names[a]}, {"window", window_label(r)}}, value(acc[a][r]));
      }
    }
    for (int r = 0; r < kWindowCount; ++r) {
      AddSeries(&f, {{"area", all}, {"window", window_label(r)}}, value(city[r]));
    }
  };
  area_family("civicpulse_new_participants",
              "Participants first seen in the area within 90 days, in the trailing window.",
              [](const WindowAcc& w) { return w.new_participants.Estimate(); });
  area_family("civicpulse_volunteer_time_seconds", "Volunteer time given in the trailing window.",
              [](const WindowAcc& w) { return w.volunteer_seconds; });
  area_family("civicpulse_recycled_grams", "Grams recycled in the trailing window.",
              [](const WindowAcc& w) { return w.recycled_grams; });
  area_family("civicpulse_collective_participation_ratio",
              "Events with mode=collective / all events in the trailing window.",
              [](const WindowAcc& w) { return Ratio(w.collective_events, w.events); });
  area_family("civicpulse_coproduction_ratio",
              "Events with a public body involved / all events in the trailing window.",
              [](const WindowAcc& w) { return Ratio(w.public_body_events, w.events); });
  area_family("civicpulse_participant_concentration_ratio",
              "Share of attributed events by the most active tenth of participants.",
              [](const WindowAcc& w) { return w.participants.TopDecileShare(); });

  {
    IndicatorFamily& f = AddFamily(&out, "civicpulse_coproduction_events_total",
                                   "Events applied, by area and type of co-production.",
                                   MetricType::kCounter);
    for (uint32_t a : order) {
      std::array<uint64_t, kCoproductionTypeCount> sums = {};
      bool any = false;
      for (int k = 0; k < kKindCount; ++k) {
        if (!totals[a][k].has_totals) continue;
        any = true;
        for (int i = 0; i < kCoproductionTypeCount; ++i) {
          sums[i] += totals[a][k].coproduction_events[i];
        }
      }
      if (!any) continue;
      for (int i = 0; i < kCoproductionTypeCount; ++i) {
        AddSeries(&f,
                  {{"area", s.area_names[a]},
                   {"type", std::string(CoproductionTypeName(
                                static_cast<CoproductionType>(i + 1)))}},
                  static_cast<double>(sums[i]));
      }
    }
  }
  {
    IndicatorFamily& f = AddFamily(&out, "civicpulse_active_participants_by_age",
                                   "Distinct participants city-wide by age band, in the "
                                   "trailing window (events that carry an age band).",
                                   MetricType::kGauge);
    for (int b = 1; b < kAgeBandCount; ++b) {
      for (int r = 0; r < kWindowCount; ++r) {
        AddSeries(&f,
                  {{"age_band", std::string(AgeBandName(static_cast<AgeBand>(b)))},
                   {"window", window_label(r)}},
                  ages[r][b].Estimate());
      }
    }
  }
  {
    IndicatorFamily& f = AddFamily(&out, "civicpulse_area_residents",
                                   "Residents per area (areas file).", MetricType::kGauge);
    for (const auto& [area, residents] : s.options.residents) {
      AddSeries(&f, {{"area", area}}, residents);
    }
  }
  {
    IndicatorFamily& f =
        AddFamily(&out, "civicpulse_last_event_timestamp_seconds",
                  "Largest event time applied, by area and kind.", MetricType::kGauge);
    for (uint32_t a : order) {
      for (int k = 0; k < kKindCount; ++k) {
        if (!totals[a][k].has_totals) continue;
        AddSeries(&f, {{"area", s.area_names[a]}, {"kind", std::string(KindName(KindOf(k)))}},
                  static_cast<double>(totals[a][k].last_event_ms) / 1000.0);
      }
    }
  }
  {
    std::vector<std::array<bool, kKindCount>> has_series(area_count);
    for (size_t a = 0; a < area_count; ++a) {
      for (int k = 0; k < kKindCount; ++k) has_series[a][k] = totals[a][k].has_totals;
    }
    s.AddBaselineFamilies(label, order, has_series, acc, city, &out);
  }
  AddSeries(&AddFamily(&out, "civicpulse_exporter_partitions",
                       "Source partitions the exporter has partial aggregates of.",
                       MetricType::kGauge),
            {}, static_cast<double>(s.partitions.size()));
  AddSeries(&AddFamily(&out, "civicpulse_exporter_watermark_timestamp_seconds",
                       "Smallest watermark over the source partitions (0 before any).",
                       MetricType::kGauge),
            {},
            min_watermark == std::numeric_limits<int64_t>::max()
                ? 0.0
                : static_cast<double>(min_watermark) / 1000.0);
  return out;
}

size_t IndicatorStore::MemoryBytes() const {
  const State& s = *state_;
  size_t bytes = sizeof(State) + s.area_names.capacity() * sizeof(std::string) +
                 s.area_ids.capacity() * (sizeof(std::pair<std::string, uint32_t>) + 1);
  for (const auto& [id, p] : s.partitions) {
    bytes += sizeof(SourcePartition) + id.first.capacity() + 64;
    bytes += p.totals.capacity() * sizeof(StoredTotals);
    bytes += p.cells.capacity() * (sizeof(std::pair<CellKey, StoredCell>) + 1);
    for (const auto& [key, c] : p.cells) {
      bytes += key.area.capacity() > 15 ? key.area.capacity() : 0;
      bytes += c.HeapBytes();
    }
  }
  return bytes;
}

}  // namespace civicpulse::core
