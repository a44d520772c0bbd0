// Event-time engine benchmarks (services/core: PartitionAggregator, IndicatorStore).
//
//   BM_Apply            pre-decoded events (200 areas, 1M participants) into one partition's
//                       aggregator, with a Tick every 64k events as the app does; items/s.
//                       Target: >= 1M events/s on one core.
//   BM_ApplyAndPublish  the same plus TakeCells + FillProgress every 100k events (snapshots
//                       of changed cells, as on each flush).
//   BM_StateMemory7Days 1M distinct participants across 200 areas over 7 days of event time
//                       (3M events): MemoryBytes() of the state, reported as counters.
//                       Target: < 256 MiB.
//   BM_Compute          IndicatorStore::Compute over that state's full snapshot.
//
// The event stream is deterministic (fixed seed); "pre-decoded" means a reused Event filled
// in place, as the decoders do, so no allocation is measured that the app would not do.
#include <charconv>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/indicator_store.h"
#include "civicpulse/core/partition_aggregator.h"
#include "civicpulse/v1/aggregate.pb.h"

namespace civicpulse::core {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000 / kDayMs * kDayMs;
constexpr int kAreas = 200;
constexpr int kParticipants = 1'000'000;

// A compact event stream: participant and area indices, times and kinds; names pre-built.
struct Stream {
  std::vector<std::string> participant_names;
  std::vector<std::string> area_names;
  std::vector<uint32_t> participant;
  std::vector<uint16_t> area;
  std::vector<int64_t> time_ms;
  std::vector<uint8_t> kind;
  std::vector<uint8_t> age_band;

  // `events` events spread evenly over `span_ms` of event time with up to 2 minutes of
  // disorder. Each participant has a home area (80% of their events) so per-area sketches
  // look like a city's, not like uniform noise.
  Stream(size_t events, int64_t span_ms, uint64_t seed) {
    for (int i = 0; i < kParticipants; ++i) participant_names.push_back("p-" + std::to_string(i));
    for (int i = 0; i < kAreas; ++i) area_names.push_back("W" + std::to_string(i));
    std::mt19937_64 rng(seed);
    participant.resize(events);
    area.resize(events);
    time_ms.resize(events);
    kind.resize(events);
    age_band.resize(events);
    for (size_t i = 0; i < events; ++i) {
      // Every participant appears at least once when events >= kParticipants.
      const uint32_t p = i < kParticipants ? static_cast<uint32_t>((i * 7919) % kParticipants)
                                           : static_cast<uint32_t>(rng() % kParticipants);
      participant[i] = p;
      area[i] = static_cast<uint16_t>(rng() % 5 == 0 ? rng() % kAreas : p % kAreas);
      const int64_t base = static_cast<int64_t>(static_cast<double>(i) / events * span_ms);
      time_ms[i] = kT0 + base - static_cast<int64_t>(rng() % (2 * kMinuteMs));
      kind[i] = static_cast<uint8_t>(1 + rng() % 3);
      age_band[i] = static_cast<uint8_t>(rng() % 3 == 0 ? rng() % kAgeBandCount : 0);
    }
  }

  size_t size() const { return participant.size(); }

  // Fills `e` in place with event `i` (ids unique by index).
  void Fill(size_t i, uint64_t id, Event* e) const {
    char buffer[24] = {'e', '-'};
    auto [end, ec] = std::to_chars(buffer + 2, buffer + sizeof(buffer), id);
    (void)ec;
    e->event_id.assign(buffer, end);
    e->SetKind(static_cast<Kind>(kind[i]));
    e->has_participant = true;
    e->participant = participant_names[participant[i]];
    e->area = area_names[area[i]];
    e->occurred_at_ms = time_ms[i];
    e->hours = e->kind == Kind::kVolunteerShift ? 2.5 : 0;
    e->weight_kg = e->kind == Kind::kRecycling ? 3.2 : 0;
    e->age_band = static_cast<AgeBand>(age_band[i]);
  }
};

// One day of event time at ~35 events/s: 3M events.
const Stream& ApplyStream() {
  static const Stream* stream = new Stream(3'000'000, kDayMs, 1);
  return *stream;
}

void RunApply(benchmark::State& state, bool publish) {
  const Stream& stream = ApplyStream();
  EngineOptions options;
  AreaCap areas(AreaCapOptions{});
  auto agg = std::make_unique<PartitionAggregator>(options, &areas);
  Event e;
  std::vector<v1::Cell> cells;
  v1::PartitionProgress progress;
  size_t i = 0;
  uint64_t id = 0;
  for (auto _ : state) {
    if (i == stream.size()) {  // a fresh partition for the next pass over the stream
      state.PauseTiming();
      agg = std::make_unique<PartitionAggregator>(options, &areas);
      i = 0;
      state.ResumeTiming();
    }
    stream.Fill(i, id++, &e);
    benchmark::DoNotOptimize(agg->Apply(e, stream.time_ms[i]));
    ++i;
    if ((i & 0xFFFF) == 0) agg->Tick(stream.time_ms[i - 1]);
    if (publish && i % 100'000 == 0) {
      cells.clear();
      agg->TakeCells(&cells);
      agg->FillProgress(&progress);
      benchmark::DoNotOptimize(cells.data());
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["state_MiB"] = static_cast<double>(agg->MemoryBytes()) / (1 << 20);
}

void BM_Apply(benchmark::State& state) { RunApply(state, false); }
BENCHMARK(BM_Apply)->MinTime(2.0);

void BM_ApplyAndPublish(benchmark::State& state) { RunApply(state, true); }
BENCHMARK(BM_ApplyAndPublish)->MinTime(2.0);

// 1M distinct participants across 200 areas over 7 days: the state one partition (or all
// partitions together: the state is per area and participant) holds.
struct WeekState {
  AreaCap areas{AreaCapOptions{}};
  std::unique_ptr<PartitionAggregator> agg;
  size_t events = 0;
};

WeekState& Week() {
  static WeekState* week = [] {
    auto* w = new WeekState;
    const Stream stream(3'000'000, 7 * kDayMs, 2);
    w->agg = std::make_unique<PartitionAggregator>(EngineOptions{}, &w->areas);
    Event e;
    for (size_t i = 0; i < stream.size(); ++i) {
      stream.Fill(i, i, &e);
      w->agg->Apply(e, stream.time_ms[i]);
      if ((i & 0xFFFF) == 0) w->agg->Tick(stream.time_ms[i]);
    }
    w->agg->Tick(stream.time_ms.back());
    w->events = stream.size();
    return w;
  }();
  return *week;
}

void BM_StateMemory7Days(benchmark::State& state) {
  const WeekState& week = Week();
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = week.agg->MemoryBytes();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["state_MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["bytes_per_participant"] = static_cast<double>(bytes) / kParticipants;
  state.counters["cells"] = static_cast<double>(week.agg->cell_count());
  state.counters["events"] = static_cast<double>(week.events);
}
BENCHMARK(BM_StateMemory7Days)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_Compute(benchmark::State& state) {
  // One full snapshot of the week's state, as after a periodic full re-publish.
  static IndicatorStore* store = [] {
    auto* s = new IndicatorStore(IndicatorOptions{});
    std::vector<v1::Cell> cells;
    Week().agg->TakeCells(&cells, /*all=*/true);
    v1::PartialAggregate record;
    record.set_source_topic("events");
    record.set_source_partition(0);
    record.set_source_offset(1);
    for (v1::Cell& cell : cells) {
      record.mutable_cell()->Swap(&cell);
      s->Apply(record);
    }
    Week().agg->FillProgress(record.mutable_progress());
    s->Apply(record);
    return s;
  }();
  size_t series = 0;
  for (auto _ : state) {
    std::vector<IndicatorFamily> families = store->Compute();
    series = 0;
    for (const IndicatorFamily& f : families) series += f.series.size();
    benchmark::DoNotOptimize(families.data());
  }
  state.counters["series"] = static_cast<double>(series);
  state.counters["store_MiB"] = static_cast<double>(store->MemoryBytes()) / (1 << 20);
}
BENCHMARK(BM_Compute)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
}  // namespace civicpulse::core
