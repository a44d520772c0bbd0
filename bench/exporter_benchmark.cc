// Exporter benchmarks (issue 8, target 4): the IndicatorStore's recomputation and the
// /metrics scrape, each against a baseline measured in the same run.
//
//   BM_ComputeFromScratch  a week of 1M participants over 200 areas (3M events) from three
//                          aggregators (areas keyed to three source partitions, one per
//                          aggregator), applied to a fresh store as full snapshots, then its
//                          first Compute: every cell merged (what every merge cost before the
//                          store was incremental). The baseline of the next two.
//   BM_ComputeSteady/N     the steady state: N new events after the week (5 events/s of event
//                          time, as in the week), applied by the three aggregators, which then
//                          tick and publish their changed cells and progress; the store applies
//                          them and Computes. Only Compute is timed (Apply and the aggregators
//                          are paused). Target: < 100 ms. `vs_scratch` = from-scratch time /
//                          this time.
//   BM_ScrapeCollect       /metrics of 100,000 indicator series as it was: Collect() (a deep
//                          copy of every family) then prometheus-cpp's TextSerializer, per
//                          scrape. The baseline.
//   BM_ScrapeText          /metrics as it is: the text serialized once per merge appended to
//                          the response body (HttpServer::AddExposition). Target: < 100 ms.
//   BM_ScrapeHttp/{0,1}    a whole GET /metrics over loopback TCP from the runtime's HttpServer:
//                          0 = the collectable (as before), 1 = the exposition (as now).
//   BM_MergeSerialize      what the merge loop pays per merge instead: ToMetricFamilies and
//                          the one serialization (IndicatorCollector::Update).
#include <httplib.h>

#include <charconv>
#include <cstdint>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/indicator_store.h"
#include "civicpulse/core/partition_aggregator.h"
#include "civicpulse/runtime/http_server.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "indicator_collector.h"
#include "indicator_metrics.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace civicpulse {
namespace {

using core::kDayMs;
using core::kMinuteMs;

constexpr int64_t kT0 = 1'700'000'000'000 / kDayMs * kDayMs;
constexpr int kAreas = 200;
constexpr int kParticipants = 1'000'000;
constexpr int kAggregators = 3;
constexpr size_t kWeekEvents = 3'000'000;
constexpr int64_t kWeekMs = 7 * kDayMs;

// The engine benchmark's stream (bench/engine_benchmark.cc): each participant has a home
// area (80% of their events), kinds uniform, a third of the events with an age band, up to
// 2 minutes of disorder; event `i` of `rate` events per ms of event time.
struct Stream {
  std::vector<std::string> participant_names;
  std::vector<std::string> area_names;
  std::mt19937_64 rng{2};

  Stream() {
    for (int i = 0; i < kParticipants; ++i) participant_names.push_back("p-" + std::to_string(i));
    for (int i = 0; i < kAreas; ++i) area_names.push_back("W" + std::to_string(i));
  }

  // Event number `i` (ids unique by index) at about `t`; returns its area index.
  int Fill(size_t i, int64_t t, core::Event* e) {
    const uint32_t p = i < kParticipants ? static_cast<uint32_t>((i * 7919) % kParticipants)
                                         : static_cast<uint32_t>(rng() % kParticipants);
    const int area = static_cast<int>(rng() % 5 == 0 ? rng() % kAreas : p % kAreas);
    char buffer[24] = {'e', '-'};
    auto [end, ec] = std::to_chars(buffer + 2, buffer + sizeof(buffer), i);
    (void)ec;
    e->event_id.assign(buffer, end);
    e->SetKind(static_cast<core::Kind>(1 + rng() % 3));
    e->has_participant = true;
    e->participant = participant_names[p];
    e->area = area_names[area];
    e->occurred_at_ms = t - static_cast<int64_t>(rng() % (2 * kMinuteMs));
    e->hours = e->kind == core::Kind::kVolunteerShift ? 2.5 : 0;
    e->weight_kg = e->kind == core::Kind::kRecycling ? 3.2 : 0;
    e->age_band = static_cast<core::AgeBand>(rng() % 3 == 0 ? rng() % core::kAgeBandCount : 0);
    return area;
  }
};

// Three aggregators over a week, the records they publish, and the stream's position.
struct Pipeline {
  Stream stream;
  core::AreaCap areas{core::AreaCapOptions{}};
  std::vector<std::unique_ptr<core::PartitionAggregator>> aggregators;
  std::vector<int64_t> offsets = std::vector<int64_t>(kAggregators, 0);
  size_t next_event = 0;
  int64_t clock = kT0;

  Pipeline() {
    for (int a = 0; a < kAggregators; ++a) {
      aggregators.push_back(
          std::make_unique<core::PartitionAggregator>(core::EngineOptions{}, &areas));
    }
    std::vector<v1::Cell> cells;
    core::Event e;
    for (; next_event < kWeekEvents; ++next_event) {
      clock = kT0 + static_cast<int64_t>(static_cast<double>(next_event) / kWeekEvents * kWeekMs);
      Apply(e);
      if ((next_event & 0xFFFF) == 0) {
        for (auto& agg : aggregators) {
          agg->Tick(clock);
          cells.clear();
          agg->TakeCells(&cells);  // published and forgotten, as by the aggregator's flush
        }
      }
    }
  }

  void Apply(core::Event& e) {
    const int area = stream.Fill(next_event, clock, &e);
    const int a = area % kAggregators;
    aggregators[a]->Apply(e, clock);
    ++offsets[a];
  }

  // Every aggregator's changed cells (all of them with `all`) and progress, as records.
  void Publish(bool all, std::vector<v1::PartialAggregate>* out) {
    std::vector<v1::Cell> cells;
    for (int a = 0; a < kAggregators; ++a) {
      aggregators[a]->Tick(clock);
      cells.clear();
      aggregators[a]->TakeCells(&cells, all);
      v1::PartialAggregate record;
      record.set_source_topic("civicpulse.events.v1");
      record.set_source_partition(a);
      record.set_source_offset(offsets[a]);
      for (v1::Cell& cell : cells) {
        record.mutable_cell()->Swap(&cell);
        out->push_back(record);
      }
      record.clear_cell();
      aggregators[a]->FillProgress(record.mutable_progress());
      out->push_back(record);
    }
  }

  // `n` more events at 5 events/s of event time, the week's rate.
  void Advance(size_t n) {
    core::Event e;
    for (size_t i = 0; i < n; ++i, ++next_event) {
      clock += 200;
      Apply(e);
    }
  }
};

Pipeline& Week() {
  static Pipeline* pipeline = new Pipeline;
  return *pipeline;
}

const std::vector<v1::PartialAggregate>& WeekSnapshot() {
  static auto* records = [] {
    auto* out = new std::vector<v1::PartialAggregate>;
    Week().Publish(/*all=*/true, out);
    return out;
  }();
  return *records;
}

double g_scratch_seconds = 0;

void BM_ComputeFromScratch(benchmark::State& state) {
  const std::vector<v1::PartialAggregate>& records = WeekSnapshot();
  size_t series = 0, bytes = 0;
  double seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto store = std::make_unique<core::IndicatorStore>(core::IndicatorOptions{});
    for (const v1::PartialAggregate& r : records) store->Apply(r);
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    core::Indicators indicators = store->Compute();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    series = indicators.series.size();
    benchmark::DoNotOptimize(indicators.series.data());
    state.PauseTiming();
    bytes = store->MemoryBytes();
    store.reset();
    state.ResumeTiming();
  }
  g_scratch_seconds = seconds / static_cast<double>(state.iterations());
  state.counters["records"] = static_cast<double>(records.size());
  state.counters["area_kind_series"] = static_cast<double>(series);
  state.counters["store_MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_ComputeFromScratch)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_ComputeSteady(benchmark::State& state) {
  static core::IndicatorStore* store = [] {
    auto* s = new core::IndicatorStore(core::IndicatorOptions{});
    for (const v1::PartialAggregate& r : WeekSnapshot()) s->Apply(r);
    s->Compute();
    return s;
  }();
  const size_t delta = static_cast<size_t>(state.range(0));
  Pipeline& week = Week();
  std::vector<v1::PartialAggregate> records;
  size_t applied = 0;
  double seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    week.Advance(delta);
    records.clear();
    week.Publish(/*all=*/false, &records);
    for (const v1::PartialAggregate& r : records) store->Apply(r);
    applied += records.size();
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    core::Indicators indicators = store->Compute();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    benchmark::DoNotOptimize(indicators.series.data());
  }
  const double per_call = seconds / static_cast<double>(state.iterations());
  state.counters["records_per_merge"] =
      static_cast<double>(applied) / static_cast<double>(state.iterations());
  if (g_scratch_seconds > 0) state.counters["vs_scratch"] = g_scratch_seconds / per_call;
  state.counters["store_MiB"] = static_cast<double>(store->MemoryBytes()) / (1 << 20);
}
BENCHMARK(BM_ComputeSteady)->Arg(100)->Unit(benchmark::kMillisecond)->Iterations(60);
BENCHMARK(BM_ComputeSteady)->Arg(10'000)->Unit(benchmark::kMillisecond)->Iterations(15);

// ---------------------------------------------------------------------------------------
// Scrape: 100,000 series of the real families, from typed indicators of 1,430 areas with
// every kind counted and the baseline ready (about 70 series per area).

std::vector<prometheus::MetricFamily> ManySeries(size_t* count) {
  core::Indicators in;
  auto row = [&](std::string area, bool city, std::optional<core::Kind> kind) {
    core::SeriesIndicators& s = in.series.emplace_back();
    s.area = std::move(area);
    s.city = city;
    s.kind = kind;
    s.has_totals = true;
    s.events = 123456;
    s.last_event_ms = kT0 + 123;
    s.active_participants = {12, 345, 6789};
    for (int r = 0; r < core::kWindowCount; ++r) {
      s.expected[r] = {.ready = true, .events = 1.5 * r, .participants = 0.75 * r};
      s.participation_ratio[r] = 0.987654321;
    }
  };
  for (int a = 0; a < 1430; ++a) {
    const std::string area = "area-" + std::to_string(a);
    for (int k = 1; k <= core::kKindCount; ++k) row(area, false, static_cast<core::Kind>(k));
    row(area, false, std::nullopt);
    core::AreaIndicators& ai = in.areas.emplace_back();
    ai.area = area;
    ai.has_totals = true;
    ai.coproduction_events = {1, 22, 333, 4444};
    for (int r = 0; r < core::kWindowCount; ++r) {
      ai.windows[r] = {.new_participants = 17, .volunteer_seconds = 9000.5,
                       .recycled_grams = 3200.25, .collective_ratio = 0.3333333333333333,
                       .coproduction_ratio = 0.7, .concentration_ratio = 0.41};
    }
  }
  std::vector<prometheus::MetricFamily> families = exporter::ToMetricFamilies(in);
  *count = 0;
  for (const auto& f : families) *count += f.metric.size();
  return families;
}

struct Scrape {
  size_t series = 0;
  std::shared_ptr<exporter::IndicatorCollector> collector =
      std::make_shared<exporter::IndicatorCollector>();
  Scrape() { collector->Update(ManySeries(&series)); }
};

Scrape& Families() {
  static Scrape* scrape = new Scrape;
  return *scrape;
}

double g_collect_seconds = 0;

void BM_ScrapeCollect(benchmark::State& state) {
  Scrape& s = Families();
  size_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::vector<prometheus::MetricFamily> families = s.collector->Collect();
    std::string body = prometheus::TextSerializer().Serialize(families);
    bytes = body.size();
    benchmark::DoNotOptimize(body.data());
  }
  g_collect_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                          .count() / static_cast<double>(state.iterations());
  state.counters["series"] = static_cast<double>(s.series);
  state.counters["body_MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_ScrapeCollect)->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_ScrapeText(benchmark::State& state) {
  Scrape& s = Families();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    std::shared_ptr<const std::string> text = s.collector->Text();
    std::string body = prometheus::TextSerializer().Serialize({});  // the registry's part
    body.reserve(body.size() + text->size());
    body.append(*text);
    benchmark::DoNotOptimize(body.data());
  }
  const double per_call = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                              .count() / static_cast<double>(state.iterations());
  state.counters["series"] = static_cast<double>(s.series);
  if (g_collect_seconds > 0) state.counters["vs_collect"] = g_collect_seconds / per_call;
}
BENCHMARK(BM_ScrapeText)->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_ScrapeHttp(benchmark::State& state) {
  Scrape& s = Families();
  runtime::HttpServer server;
  server.ServeMetrics(std::make_shared<prometheus::Registry>());
  if (state.range(0) == 0) {
    server.AddCollectable(s.collector);
  } else {
    server.AddExposition([collector = s.collector] { return collector->Text(); });
  }
  if (!server.Start("127.0.0.1:0").ok()) {
    state.SkipWithError("cannot listen");
    return;
  }
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(30, 0);
  size_t bytes = 0;
  for (auto _ : state) {
    auto response = client.Get("/metrics");
    if (!response || response->status != 200) {
      state.SkipWithError("scrape failed");
      break;
    }
    bytes = response->body.size();
  }
  server.Stop();
  state.counters["series"] = static_cast<double>(s.series);
  state.counters["body_MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_ScrapeHttp)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()
    ->MinTime(2.0);

void BM_MergeSerialize(benchmark::State& state) {
  size_t series = 0;
  std::vector<prometheus::MetricFamily> families = ManySeries(&series);
  exporter::IndicatorCollector collector;
  for (auto _ : state) {
    std::vector<prometheus::MetricFamily> copy = families;  // ToMetricFamilies' output
    collector.Update(std::move(copy));
  }
  state.counters["series"] = static_cast<double>(series);
}
BENCHMARK(BM_MergeSerialize)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
}  // namespace civicpulse
