// Property tests of the event-time engine: seeded random streams through several
// PartitionAggregators, their partial aggregates shuffled and replayed into an IndicatorStore,
// and every indicator on every window compared with a brute-force oracle that keeps all
// events in a vector and applies the semantics of docs/event-time.md directly.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/indicator_store.h"
#include "civicpulse/core/participant_sketch.h"
#include "civicpulse/core/partition_aggregator.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "civicpulse/v1/checkpoint.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "indicator_test_families.h"

namespace civicpulse::core {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000 / kDayMs * kDayMs;

using Labels = std::vector<std::pair<std::string, std::string>>;
using Metrics = std::map<std::string, double>;

std::string Key(const std::string& name, Labels labels) {
  std::sort(labels.begin(), labels.end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels) parts.push_back(absl::StrCat(k, "=", v));
  return absl::StrCat(name, "{", absl::StrJoin(parts, ","), "}");
}

Metrics Flatten(const std::vector<TestFamily>& families) {
  Metrics out;
  for (const TestFamily& f : families) {
    for (const TestFamily::Series& s : f.series) {
      const std::string key = Key(f.name, s.labels);
      EXPECT_EQ(out.count(key), 0u) << "series twice: " << key;
      out[key] = s.value;
    }
  }
  return out;
}

// The seasonal-baseline families (expected_*, participation_ratio, baseline_ready) are left
// out of the comparison: the oracle models windows, and baseline_pipeline_test and
// seasonal_baseline_test check the expectation against hand-computed values.
bool IsBaseline(const std::string& key) {
  return key.starts_with("civicpulse_expected_") ||
         key.starts_with("civicpulse_participation_ratio") ||
         key.starts_with("civicpulse_baseline_ready");
}

void ExpectSameMetrics(const Metrics& want, const Metrics& got, const std::string& context) {
  std::vector<std::string> diffs;
  for (const auto& [key, value] : want) {
    auto it = got.find(key);
    if (it == got.end()) {
      diffs.push_back(absl::StrCat("missing ", key, " (want ", value, ")"));
    } else if (std::abs(it->second - value) > 1e-9 * std::max(1.0, std::abs(value))) {
      diffs.push_back(absl::StrCat(key, ": want ", value, ", got ", it->second));
    }
  }
  for (const auto& [key, value] : got) {
    if (!want.contains(key) && !IsBaseline(key)) diffs.push_back(absl::StrCat("unexpected ", key, " = ", value));
  }
  EXPECT_TRUE(diffs.empty()) << context << ": " << diffs.size() << " differences:\n  "
                             << absl::StrJoin(diffs.begin(),
                                              diffs.begin() + std::min<size_t>(diffs.size(), 40),
                                              "\n  ");
}

// ---------------------------------------------------------------------------------------
// The oracle: every record of every partition in arrival order, and the documented rules.

struct OracleRecord {
  Event event;
  int64_t wall_ms;
  Outcome outcome;
  bool is_new = false;
  std::string area;  // folded
};

struct OraclePartition {
  std::vector<OracleRecord> records;
  int64_t watermark = 0;
  int64_t max_event = 0;
  int64_t last_record_wall = 0;
  bool any_record = false;
};

class Oracle {
 public:
  Oracle(EngineOptions options, size_t max_areas, int partitions)
      : options_(options), max_areas_(max_areas), partitions_(partitions) {}

  Outcome Apply(int p, const Event& e, int64_t wall) {
    OraclePartition& part = partitions_[p];
    part.any_record = true;
    part.last_record_wall = wall;
    OracleRecord r{e, wall, Outcome::kApplied};
    const int64_t t = e.occurred_at_ms;
    if (part.watermark > 0 && t < part.watermark - options_.grace_ms) {
      r.outcome = Outcome::kLate;
    } else {
      for (const OracleRecord& prev : part.records) {
        if (prev.outcome == Outcome::kApplied && prev.event.event_id == e.event_id &&
            std::abs(prev.event.occurred_at_ms - t) <= options_.dedup_horizon_ms) {
          r.outcome = Outcome::kDuplicate;
          break;
        }
      }
    }
    if (r.outcome == Outcome::kApplied) {
      r.area = Fold(e.area);
      if (e.has_participant) {
        // New unless an earlier applied event of this person in this area is at most
        // `horizon` older (or newer: arriving out of order).
        r.is_new = true;
        for (const OracleRecord& prev : part.records) {
          if (prev.outcome == Outcome::kApplied && prev.event.has_participant &&
              prev.area == r.area && prev.event.participant == e.participant &&
              prev.event.occurred_at_ms >= t - options_.new_participant_horizon_ms) {
            r.is_new = false;
            break;
          }
        }
      }
      part.max_event = std::max(part.max_event, t);
      part.watermark = std::max(part.watermark, part.max_event - options_.allowed_lateness_ms);
    }
    part.records.push_back(std::move(r));
    return part.records.back().outcome;
  }

  void Tick(int p, int64_t wall) {
    OraclePartition& part = partitions_[p];
    if (part.watermark > 0 && wall - part.last_record_wall > options_.idle_timeout_ms) {
      part.watermark = std::max(part.watermark, wall - options_.allowed_lateness_ms);
    }
  }

  int64_t watermark(int p) const { return partitions_[p].watermark; }

  // Every indicator series with its exact value.
  Metrics Expected(const std::vector<std::pair<std::string, double>>& residents) const {
    Metrics m;
    // Presence and totals.
    std::set<std::pair<std::string, Kind>> present;
    std::map<std::pair<std::string, Kind>, std::pair<double, int64_t>> totals;  // events, last
    std::map<std::string, std::array<double, kCoproductionTypeCount>> coproduction;
    int partitions_known = 0;
    int64_t min_watermark = 0;
    for (const OraclePartition& part : partitions_) {
      if (part.any_record) ++partitions_known;
      if (part.watermark > 0 && (min_watermark == 0 || part.watermark < min_watermark)) {
        min_watermark = part.watermark;
      }
      for (const OracleRecord& r : part.records) {
        if (r.outcome != Outcome::kApplied) continue;
        present.insert({r.area, r.event.kind});
        auto& t = totals[{r.area, r.event.kind}];
        t.first += 1;
        t.second = std::max(t.second, r.event.occurred_at_ms);
        coproduction[r.area][static_cast<int>(r.event.coproduction) - 1] += 1;
      }
    }
    std::set<std::string> areas;
    std::set<Kind> kinds;
    for (const auto& [area, kind] : present) {
      areas.insert(area);
      kinds.insert(kind);
    }
    for (const auto& [ak, t] : totals) {
      const Labels labels = {{"area", ak.first}, {"kind", std::string(KindName(ak.second))}};
      m[Key("civicpulse_events_total", labels)] = t.first;
      m[Key("civicpulse_last_event_timestamp_seconds", labels)] =
          static_cast<double>(t.second) / 1000.0;
    }
    for (const auto& [area, counts] : coproduction) {
      for (int i = 0; i < kCoproductionTypeCount; ++i) {
        m[Key("civicpulse_coproduction_events_total",
              {{"area", area},
               {"type", std::string(CoproductionTypeName(static_cast<CoproductionType>(i + 1)))}})] =
            counts[i];
      }
    }

    for (int r = 0; r < kWindowCount; ++r) {
      const WindowSpec& window = kWindows[r];
      const std::string wl(window.label);
      // The events of this window: per partition, cells whose start is in [W - L, W).
      std::vector<const OracleRecord*> in;
      for (const OraclePartition& part : partitions_) {
        if (part.watermark <= 0) continue;
        for (const OracleRecord& rec : part.records) {
          if (rec.outcome != Outcome::kApplied) continue;
          const int64_t start = rec.event.occurred_at_ms / window.cell_ms * window.cell_ms;
          if (start >= part.watermark - window.length_ms && start < part.watermark) {
            in.push_back(&rec);
          }
        }
      }
      auto for_area = [&](const std::string& area, const std::string& label) {
        std::map<std::string, int> counts;
        std::set<std::string> fresh;
        double events = 0, collective = 0, public_body = 0, volunteer = 0, recycled = 0;
        for (const OracleRecord* rec : in) {
          if (area != "all" && rec->area != area) continue;
          const Event& e = rec->event;
          events += 1;
          collective += e.mode == Mode::kCollective;
          public_body += e.public_body;
          if (e.kind == Kind::kVolunteerShift) volunteer += e.hours * 3600;
          if (e.kind == Kind::kRecycling) recycled += e.weight_kg * 1000;
          if (!e.has_participant) continue;
          ++counts[e.participant];
          if (rec->is_new) fresh.insert(e.participant);
        }
        const Labels labels = {{"area", label}, {"window", wl}};
        m[Key("civicpulse_new_participants", labels)] = static_cast<double>(fresh.size());
        m[Key("civicpulse_volunteer_time_seconds", labels)] = volunteer;
        m[Key("civicpulse_recycled_grams", labels)] = recycled;
        m[Key("civicpulse_collective_participation_ratio", labels)] =
            events == 0 ? 0 : collective / events;
        m[Key("civicpulse_coproduction_ratio", labels)] = events == 0 ? 0 : public_body / events;
        std::vector<int> sorted;
        for (const auto& [p, n] : counts) sorted.push_back(n);
        std::sort(sorted.rbegin(), sorted.rend());
        const size_t top = (sorted.size() + 9) / 10;
        double top_events = 0;
        for (size_t i = 0; i < top; ++i) top_events += sorted[i];
        // Of all events, anonymous ones included (design.md).
        m[Key("civicpulse_participant_concentration_ratio", labels)] =
            events == 0 ? 0 : top_events / events;
      };
      auto active = [&](const std::string& area, std::optional<Kind> kind) {
        std::set<std::string> people;
        for (const OracleRecord* rec : in) {
          if (area != "all" && rec->area != area) continue;
          if (kind.has_value() && rec->event.kind != *kind) continue;
          if (rec->event.has_participant) people.insert(rec->event.participant);
        }
        m[Key("civicpulse_active_participants",
              {{"area", area},
               {"kind", kind.has_value() ? std::string(KindName(*kind)) : "all"},
               {"window", wl}})] = static_cast<double>(people.size());
      };
      for (const std::string& area : areas) {
        for_area(area, area);
        active(area, std::nullopt);
      }
      for (const auto& [area, kind] : present) active(area, kind);
      for (Kind kind : kinds) active("all", kind);
      active("all", std::nullopt);
      for_area("all", "all");
      for (int b = 1; b < kAgeBandCount; ++b) {
        const AgeBand band = static_cast<AgeBand>(b);
        std::set<std::string> people;
        for (const OracleRecord* rec : in) {
          if (rec->event.has_participant && rec->event.age_band == band) {
            people.insert(rec->event.participant);
          }
        }
        m[Key("civicpulse_active_participants_by_age",
              {{"age_band", std::string(AgeBandName(band))}, {"window", wl}})] =
            static_cast<double>(people.size());
      }
    }
    for (const auto& [area, n] : residents) m[Key("civicpulse_area_residents", {{"area", area}})] = n;
    m[Key("civicpulse_exporter_partitions", {})] = partitions_known;
    m[Key("civicpulse_exporter_watermark_timestamp_seconds", {})] =
        static_cast<double>(min_watermark) / 1000.0;
    return m;
  }

 private:
  // First `max_areas` distinct areas applied keep their name.
  std::string Fold(const std::string& area) {
    if (std::find(kept_.begin(), kept_.end(), area) != kept_.end()) return area;
    if (kept_.size() < max_areas_) {
      kept_.push_back(area);
      return area;
    }
    return "other";
  }

  EngineOptions options_;
  size_t max_areas_;
  std::vector<OraclePartition> partitions_;
  std::vector<std::string> kept_;
};

// ---------------------------------------------------------------------------------------
// The system under test, driven like the aggregator app drives it.

struct Harness {
  Harness(EngineOptions options, size_t max_areas, int partitions)
      : areas(AreaCapOptions{.allowed = {}, .max_areas = max_areas}),
        oracle(options, max_areas, partitions),
        offsets(partitions, 0) {
    for (int p = 0; p < partitions; ++p) {
      aggregators.push_back(std::make_unique<PartitionAggregator>(options, &areas));
    }
  }

  void Apply(int p, const Event& e, int64_t wall) {
    const Outcome want = oracle.Apply(p, e, wall);
    const Outcome got = aggregators[p]->Apply(e, wall);
    ASSERT_EQ(static_cast<int>(got), static_cast<int>(want))
        << "event " << e.event_id << " at " << e.occurred_at_ms << " on partition " << p;
    ++offsets[p];
  }

  void Tick(int p, int64_t wall) {
    oracle.Tick(p, wall);
    aggregators[p]->Tick(wall);
    ASSERT_EQ(aggregators[p]->watermark_ms(), oracle.watermark(p)) << "partition " << p;
  }

  // What the aggregator app does on each flush: tick, changed cells, then progress.
  void Publish(int64_t wall, bool all) {
    for (size_t p = 0; p < aggregators.size(); ++p) {
      if (offsets[p] == 0) continue;
      Tick(static_cast<int>(p), wall);
      std::vector<v1::Cell> cells;
      aggregators[p]->TakeCells(&cells, all);
      for (v1::Cell& cell : cells) {
        v1::PartialAggregate& record = records.emplace_back();
        Stamp(static_cast<int>(p), wall, &record);
        record.mutable_cell()->Swap(&cell);
      }
      v1::PartialAggregate& progress = records.emplace_back();
      Stamp(static_cast<int>(p), wall, &progress);
      aggregators[p]->FillProgress(progress.mutable_progress());
    }
  }

  void Stamp(int p, int64_t wall, v1::PartialAggregate* record) const {
    record->set_source_topic("civicpulse.events.v1");
    record->set_source_partition(p);
    record->set_source_offset(offsets[p]);
    record->set_producer("test");
    record->set_produced_unix_ms(wall);
  }

  AreaCap areas;
  std::vector<std::unique_ptr<PartitionAggregator>> aggregators;
  Oracle oracle;
  std::vector<int64_t> offsets;
  std::vector<v1::PartialAggregate> records;
};

IndicatorOptions StoreOptions() {
  IndicatorOptions o;
  o.areas.max_areas = 50;
  o.residents = {{"A0", 12000}, {"A1", 800}};
  return o;
}

// All records so far, shuffled, with a fifth of them replayed again at random places.
Metrics ShuffledStoreMetrics(const std::vector<v1::PartialAggregate>& records,
                             std::mt19937_64* rng) {
  std::vector<const v1::PartialAggregate*> order;
  for (const auto& r : records) order.push_back(&r);
  std::uniform_int_distribution<size_t> pick(0, records.size() - 1);
  for (size_t i = 0; i < records.size() / 5; ++i) order.push_back(&records[pick(*rng)]);
  std::shuffle(order.begin(), order.end(), *rng);
  IndicatorStore store(StoreOptions());
  for (const v1::PartialAggregate* r : order) store.Apply(*r);
  EXPECT_EQ(store.rejected_records(), 0u);
  return Flatten(TestFamilies(store.Compute()));
}

class EnginePropertyTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(EnginePropertyTest, IndicatorsMatchTheOracleOnEveryWindow) {
  std::mt19937_64 rng(GetParam());
  EngineOptions options;
  constexpr int kPartitions = 4;
  constexpr int kAreas = 6;  // 4 keep their name, 2 fold into "other"
  constexpr int kParticipants = 300;
  constexpr int kSteps = 6000;
  Harness h(options, /*max_areas=*/4, kPartitions);
  IndicatorStore in_order(StoreOptions());  // fed in production order
  size_t fed = 0;

  int64_t clock = kT0;  // event-time front
  const int64_t skew = 30 * 1000;  // wall clock runs 30 s ahead of the event front
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<Event> recent;
  int next_id = 0;
  const double hours[] = {0.5, 1, 1.5, 2, 3.5, 8};
  const double kilos[] = {0.25, 1.5, 4.2, 10, 0.1};

  auto random_event = [&](int64_t t) {
    Event e;
    e.event_id = absl::StrCat("e-", next_id++);
    e.SetKind(static_cast<Kind>(1 + rng() % kKindCount));
    const int area = static_cast<int>(std::min(rng() % kAreas, rng() % kAreas));  // skewed
    e.area = absl::StrCat("A", area);
    if (unit(rng) < 0.1) {
      e.has_participant = false;
    } else {
      // Skewed too, so concentration is not trivial.
      const int p = static_cast<int>(std::pow(unit(rng), 2) * kParticipants);
      e.participant = absl::StrCat("p-", p);
    }
    e.occurred_at_ms = t;
    if (e.kind == Kind::kVolunteerShift) e.hours = hours[rng() % 6];
    if (e.kind == Kind::kRecycling) e.weight_kg = kilos[rng() % 5];
    if (unit(rng) < 0.3) e.mode = unit(rng) < 0.5 ? Mode::kCollective : Mode::kIndividual;
    e.public_body = unit(rng) < 0.7;
    e.coproduction = static_cast<CoproductionType>(1 + rng() % kCoproductionTypeCount);
    e.age_band = static_cast<AgeBand>(rng() % kAgeBandCount);  // kNone included
    return e;
  };
  auto partition_of = [&](const Event& e) { return static_cast<int>(e.area.back() - '0') % kPartitions; };
  auto send = [&](const Event& e) {
    h.Apply(partition_of(e), e, clock + skew);
    recent.push_back(e);
    if (recent.size() > 200) recent.erase(recent.begin());
  };

  int round = 0;
  for (int step = 0; step < kSteps && !HasFatalFailure(); ++step) {
    const double u = unit(rng);
    if (step == kSteps / 2) {
      // A long silence: everyone is new again after 90 days.
      clock += 95 * kDayMs;
      for (int p = 0; p < kPartitions; ++p) h.Tick(p, clock + skew);
    } else if (u < 0.002) {
      clock += static_cast<int64_t>(unit(rng) * 30 * kHourMs);  // silence
      for (int p = 0; p < kPartitions; ++p) h.Tick(p, clock + skew);
    } else if (u < 0.012) {
      for (int i = 0; i < 40; ++i) send(random_event(clock));  // burst at one instant
    } else if (u < 0.05 && !recent.empty()) {
      Event dup = recent[rng() % recent.size()];  // re-delivery, maybe with another time
      if (unit(rng) < 0.5) dup.occurred_at_ms += static_cast<int64_t>((unit(rng) - 0.5) * 4 * kMinuteMs);
      if (unit(rng) < 0.3) dup.participant = "p-dup";
      send(dup);
    } else if (u < 0.09) {
      // Older than the allowed lateness: late or within grace, depending on the partition.
      send(random_event(clock - static_cast<int64_t>(unit(rng) * 3 * kHourMs)));
    } else {
      send(random_event(clock - static_cast<int64_t>(unit(rng) * options.allowed_lateness_ms)));
    }
    clock += static_cast<int64_t>(unit(rng) * 240 * 1000);
    if (step % 150 == 149 || step == kSteps - 1) {
      ++round;
      h.Publish(clock + skew, /*all=*/round % 7 == 0);
      for (; fed < h.records.size(); ++fed) in_order.Apply(h.records[fed]);
      if (round % 8 == 0 || step == kSteps - 1) {
        const Metrics want = h.oracle.Expected(StoreOptions().residents);
        int nonzero = 0;
        for (const auto& [k, v] : want) nonzero += v != 0;
        for (const auto& [k, v] : want) if (k.find("new_part") != std::string::npos || k.find("events_total") != std::string::npos) fprintf(stderr, "%s = %g\n", k.c_str(), v);
        fprintf(stderr, "round %d: %zu series, %d nonzero, %zu records\n", round, want.size(), nonzero, h.records.size());
        ExpectSameMetrics(want, ShuffledStoreMetrics(h.records, &rng),
                          absl::StrCat("shuffled, round ", round));
        ExpectSameMetrics(want, Flatten(TestFamilies(in_order.Compute())),
                          absl::StrCat("in order, round ", round));
      }
    }
  }
  // Every outcome was exercised.
  v1::PartitionProgress sum;
  uint64_t applied = 0, duplicate = 0, late = 0;
  for (auto& agg : h.aggregators) {
    agg->FillProgress(&sum);
    applied += sum.applied();
    duplicate += sum.duplicate();
    late += sum.late();
  }
  EXPECT_GT(applied, 1000u);
  EXPECT_GT(duplicate, 10u);
  EXPECT_GT(late, 10u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, EnginePropertyTest, ::testing::Values(1, 2, 3, 20261122));

Event Simple(std::string id, std::string participant, std::string area, int64_t t) {
  Event e;
  e.event_id = std::move(id);
  e.SetKind(Kind::kWatchReport);
  e.participant = std::move(participant);
  e.area = std::move(area);
  e.occurred_at_ms = t;
  return e;
}

void Publish(PartitionAggregator* agg, int partition, int64_t offset, IndicatorStore* store) {
  std::vector<v1::Cell> cells;
  agg->TakeCells(&cells);
  v1::PartialAggregate record;
  record.set_source_topic("events");
  record.set_source_partition(partition);
  record.set_source_offset(offset);
  for (v1::Cell& cell : cells) {
    record.mutable_cell()->Swap(&cell);
    store->Apply(record);
  }
  agg->FillProgress(record.mutable_progress());
  store->Apply(record);
}

TEST(EngineMergeTest, TwoInstancesCountAPersonSeenByBothOnce) {
  EngineOptions options;
  // Two aggregator processes, each with its own area cap and one of the two partitions.
  AreaCap areas_a(AreaCapOptions{}), areas_b(AreaCapOptions{});
  PartitionAggregator a(options, &areas_a), b(options, &areas_b);
  a.Apply(Simple("1", "p-1", "W01", kT0), kT0);
  a.Apply(Simple("2", "p-2", "W01", kT0), kT0);
  b.Apply(Simple("3", "p-1", "W02", kT0 + 1000), kT0);
  // Both idle for 10 min: the watermarks pass the events.
  a.Tick(kT0 + 10 * kMinuteMs);
  b.Tick(kT0 + 10 * kMinuteMs);
  IndicatorStore store(IndicatorOptions{});
  Publish(&a, 0, 2, &store);
  Publish(&b, 1, 1, &store);
  const Metrics m = Flatten(TestFamilies(store.Compute()));
  for (const char* window : {"1h", "24h", "7d"}) {
    EXPECT_EQ(m.at(Key("civicpulse_active_participants",
                       {{"area", "all"}, {"kind", "all"}, {"window", window}})),
              2);
    EXPECT_EQ(m.at(Key("civicpulse_active_participants",
                       {{"area", "all"}, {"kind", "watch_report"}, {"window", window}})),
              2);
    EXPECT_EQ(m.at(Key("civicpulse_active_participants",
                       {{"area", "W02"}, {"kind", "all"}, {"window", window}})),
              1);
    // New in each area; the city-wide union counts p-1 once.
    EXPECT_EQ(m.at(Key("civicpulse_new_participants", {{"area", "all"}, {"window", window}})), 2);
  }
  EXPECT_EQ(m.at(Key("civicpulse_exporter_partitions", {})), 2);
}

// What the aggregator publishes (its exporter reads through a BatchReader: each batch once,
// in order): large cells as increments. The store must end up with exactly what whole cells
// give it, on a stream dense enough that hour cells hold thousands and turn dense.
TEST(EngineIncrementTest, IncrementsGiveTheSameIndicatorsAsWholeCells) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  EngineOptions options;
  AreaCap areas_whole(AreaCapOptions{}), areas_increments(AreaCapOptions{});
  PartitionAggregator whole(options, &areas_whole), increments(options, &areas_increments);
  increments.EnableIncrementalPublishing();
  IndicatorStore store_whole(StoreOptions()), store_increments(StoreOptions());
  int increment_cells = 0;
  int dense_cells = 0;
  auto publish = [&](PartitionAggregator* agg, IndicatorStore* store, int64_t offset, int64_t wall,
                     bool all) {
    agg->Tick(wall);
    std::vector<v1::Cell> cells;
    agg->TakeCells(&cells, all);
    v1::PartialAggregate record;
    record.set_source_topic("events");
    record.set_source_partition(0);
    record.set_source_offset(offset);
    for (v1::Cell& cell : cells) {
      increment_cells += cell.increment() ? 1 : 0;
      dense_cells += cell.participants().registers().empty() ? 0 : 1;
      record.mutable_cell()->Swap(&cell);
      store->Apply(record);
    }
    agg->FillProgress(record.mutable_progress());
    store->Apply(record);
  };
  int64_t t = kT0;
  for (int i = 0; i < 40000; ++i) {
    t += static_cast<int64_t>(unit(rng) * 300);
    Event e;
    e.event_id = absl::StrCat("e-", rng() % 8 == 0 ? i / 2 : i);  // some duplicates
    e.SetKind(rng() % 3 == 0 ? Kind::kVolunteerShift : Kind::kWatchReport);
    if (e.kind == Kind::kVolunteerShift) e.hours = 1.5;
    e.area = absl::StrCat("A", rng() % 3);
    e.has_participant = rng() % 10 != 0;
    if (e.has_participant) {
      e.participant = absl::StrCat("p-", static_cast<int>(std::pow(unit(rng), 1.5) * 20000));
    }
    e.age_band = static_cast<AgeBand>(rng() % kAgeBandCount);
    // Mostly in order; some minutes back (re-opening cells already published).
    e.occurred_at_ms = rng() % 20 == 0 ? t - static_cast<int64_t>(unit(rng) * 20 * kMinuteMs) : t;
    const int64_t wall = t + 30'000;
    ASSERT_EQ(whole.Apply(e, wall), increments.Apply(e, wall));
    if (i % 400 == 399) {
      const bool all = i % (400 * 25) == 399;  // a periodic full re-publish
      publish(&whole, &store_whole, i + 1, wall, all);
      publish(&increments, &store_increments, i + 1, wall, all);
      if (i % (400 * 10) == 399) {
        ExpectSameMetrics(Flatten(TestFamilies(store_whole.Compute())),
                          Flatten(TestFamilies(store_increments.Compute())),
                          absl::StrCat("after event ", i));
      }
    }
  }
  ExpectSameMetrics(Flatten(TestFamilies(store_whole.Compute())),
                    Flatten(TestFamilies(store_increments.Compute())), "at the end");
  EXPECT_EQ(store_increments.rejected_records(), 0u);
  EXPECT_GT(increment_cells, 200);
  EXPECT_GT(dense_cells, 0);
}

TEST(EngineMergeTest, SilenceShowsAsZeroNotAsAFrozenValue) {
  EngineOptions options;
  AreaCap areas(AreaCapOptions{});
  PartitionAggregator agg(options, &areas);
  IndicatorStore store(IndicatorOptions{});
  agg.Apply(Simple("1", "p-1", "W01", kT0), kT0);
  agg.Tick(kT0 + 2 * kMinuteMs);  // idle, but the watermark is not past the event yet
  Publish(&agg, 0, 1, &store);
  const std::string key =
      Key("civicpulse_active_participants", {{"area", "W01"}, {"kind", "all"}, {"window", "1h"}});
  EXPECT_EQ(Flatten(TestFamilies(store.Compute())).at(key), 0);
  agg.Tick(kT0 + 10 * kMinuteMs);  // now it is
  Publish(&agg, 0, 1, &store);
  EXPECT_EQ(Flatten(TestFamilies(store.Compute())).at(key), 1);
  agg.Tick(kT0 + 3 * kHourMs);  // hours of silence
  Publish(&agg, 0, 1, &store);
  const Metrics m = Flatten(TestFamilies(store.Compute()));
  EXPECT_EQ(m.at(key), 0);
  EXPECT_EQ(m.at(Key("civicpulse_active_participants",
                     {{"area", "W01"}, {"kind", "all"}, {"window", "24h"}})),
            1);
  EXPECT_EQ(m.at(Key("civicpulse_events_total", {{"area", "W01"}, {"kind", "watch_report"}})), 1);
}

// Issue 10, item 8: an area gets the same label in every process, whichever partitions a
// process owns, after a rebalance, and whatever order the exporter reads records in; the
// label values stay within the cap, and they are the first areas seen. 40 areas over 4
// partitions with a cap of 8.
TEST(EngineAreaLabelTest, SameLabelsInEveryDeploymentAndBoundedByTheCap) {
  constexpr int kPartitions = 4;
  constexpr size_t kCap = 8;
  const AreaCapOptions cap{.allowed = {}, .max_areas = kCap};
  EngineOptions options;
  std::mt19937_64 rng(7);

  // Each partition's log. Most areas live in one partition (the key is the area); every
  // tenth event goes to the next partition, as a producer that keys otherwise would do.
  std::vector<std::vector<Event>> logs(kPartitions);
  for (int i = 0; i < 4000; ++i) {
    const std::string area = absl::StrCat("Z", rng() % 40);
    const int home = static_cast<int>(HashParticipant(area) % kPartitions);
    const int p = (home + (i % 10 == 0 ? 1 : 0)) % kPartitions;
    logs[p].push_back(Simple(absl::StrCat("e-", i), absl::StrCat("p-", rng() % 300), area,
                             kT0 + i * 1000));
  }
  const int64_t end = kT0 + 4000 * 1000 + 10 * kMinuteMs;
  auto publish = [&](int p, PartitionAggregator* agg, std::vector<v1::PartialAggregate>* out) {
    agg->Tick(end);
    std::vector<v1::Cell> cells;
    agg->TakeCells(&cells, /*all=*/true);
    for (v1::Cell& cell : cells) {
      v1::PartialAggregate& r = out->emplace_back();
      r.set_source_topic("events");
      r.set_source_partition(p);
      r.set_source_offset(static_cast<int64_t>(logs[p].size()));
      r.mutable_cell()->Swap(&cell);
    }
    v1::PartialAggregate& r = out->emplace_back();
    r.set_source_topic("events");
    r.set_source_partition(p);
    r.set_source_offset(static_cast<int64_t>(logs[p].size()));
    agg->FillProgress(r.mutable_progress());
  };

  // Deployment A: one process owns every partition and reads them round-robin.
  std::vector<v1::PartialAggregate> records_a;
  {
    std::vector<std::unique_ptr<PartitionAggregator>> engines;
    for (int p = 0; p < kPartitions; ++p) {
      engines.push_back(std::make_unique<PartitionAggregator>(options, cap));
    }
    for (size_t i = 0; i < 4000; ++i) {
      for (int p = 0; p < kPartitions; ++p) {
        if (i < logs[p].size()) engines[p]->Apply(logs[p][i], logs[p][i].occurred_at_ms);
      }
    }
    for (int p = 0; p < kPartitions; ++p) publish(p, engines[p].get(), &records_a);
  }

  // Deployment B: one process per partition, partitions read one after the other in
  // reverse, and each partition moves to a new process (restored from its checkpoint) half
  // way through its log.
  std::vector<v1::PartialAggregate> records_b;
  for (int p = kPartitions - 1; p >= 0; --p) {
    PartitionAggregator first(options, cap);
    first.EnableCheckpoints();
    const size_t half = logs[p].size() / 2;
    for (size_t i = 0; i < half; ++i) first.Apply(logs[p][i], logs[p][i].occurred_at_ms);
    std::vector<v1::StatePiece> pieces;
    first.WriteSnapshot(/*max_piece_bytes=*/1 << 20, &pieces);
    PartitionAggregator next(options, cap);
    for (const v1::StatePiece& piece : pieces) {
      ASSERT_TRUE(next.ApplyPiece(piece, logs[p][half].occurred_at_ms).ok());
    }
    for (size_t i = half; i < logs[p].size(); ++i) {
      next.Apply(logs[p][i], logs[p][i].occurred_at_ms);
    }
    publish(p, &next, &records_b);
  }

  // Two exporters: one reads A's records in order, the other B's shuffled.
  IndicatorStore store_a(IndicatorOptions{.areas = cap, .residents = {}});
  for (const auto& r : records_a) store_a.Apply(r);
  std::shuffle(records_b.begin(), records_b.end(), rng);
  IndicatorStore store_b(IndicatorOptions{.areas = cap, .residents = {}});
  for (const auto& r : records_b) store_b.Apply(r);
  const Metrics a = Flatten(TestFamilies(store_a.Compute()));
  const Metrics b = Flatten(TestFamilies(store_b.Compute()));
  EXPECT_EQ(a, b);

  std::set<std::string> labels;
  for (const TestFamily& f : TestFamilies(store_b.Compute())) {
    for (const TestFamily::Series& series : f.series) {
      for (const auto& [name, value] : series.labels) {
        if (name == "area") labels.insert(value);
      }
    }
  }
  labels.erase("all");
  EXPECT_EQ(labels.size(), kCap + 1) << absl::StrJoin(labels, ",");  // the cap binds
  EXPECT_TRUE(labels.contains("other"));
  // The labels are the first kCap areas seen in event time (design.md: "the first N seen").
  std::map<int64_t, std::string> by_time;
  for (const auto& log : logs) {
    for (const Event& e : log) by_time.emplace(e.occurred_at_ms, e.area);
  }
  std::set<std::string> first{"other"};
  for (const auto& [t, area] : by_time) {
    if (first.size() == kCap + 1) break;
    first.insert(area);
  }
  EXPECT_EQ(labels, first);
}

TEST(EngineCardinalityTest, ManyDistinctAreasKeepSeriesAndMemoryBounded) {
  EngineOptions options;
  options.dedup_max_entries = 20'000;
  AreaCap areas(AreaCapOptions{.allowed = {}, .max_areas = 50});
  PartitionAggregator agg(options, &areas);
  IndicatorStore store(IndicatorOptions{.areas = {.allowed = {}, .max_areas = 50}, .residents = {}});
  size_t memory_at_warm = 0;
  Event e;
  for (int i = 0; i < 100'000; ++i) {
    e = Simple(absl::StrCat("id-", i), absl::StrCat("p-", i % 1000), absl::StrCat("area-", i),
               kT0 + i % 60'000);  // all within one minute: a fixed set of buckets
    e.SetKind(static_cast<Kind>(1 + i % 3));
    ASSERT_EQ(agg.Apply(e, kT0), Outcome::kApplied);
    if (i == 40'000) memory_at_warm = agg.MemoryBytes();
  }
  const size_t memory_at_end = agg.MemoryBytes();
  EXPECT_LE(agg.series_count(), 51u * 3u);  // 50 named areas + "other", 3 kinds
  EXPECT_LE(memory_at_end, memory_at_warm + memory_at_warm / 20)
      << "memory grew from " << memory_at_warm << " to " << memory_at_end;
  Publish(&agg, 0, 100'000, &store);
  size_t active_series = 0;
  for (const TestFamily& f : TestFamilies(store.Compute())) {
    if (f.name == "civicpulse_active_participants") active_series = f.series.size();
  }
  EXPECT_LE(active_series, (51u * 4u + 4u) * 3u);
  EXPECT_GT(active_series, 0u);
}

}  // namespace
}  // namespace civicpulse::core
