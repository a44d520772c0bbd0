// Event-time engine benchmarks (services/core: PartitionAggregator, IndicatorStore).
//
//   BM_BaselineHashCount  the same pre-decoded events counted per area and per participant in
//                       two absl::flat_hash_maps (the least a consumer that counts people
//                       does); the other benchmarks' `vs_baseline` divides by its rate.
//   BM_Apply            pre-decoded events (one day, 3M events, 200 areas, 1M participants)
//                       into one partition's aggregator, with a Tick every 64k events as the
//                       app does; items/s. BM_BaselineHashCount, BM_Apply, BM_ApplyAndPublish
//                       and BM_DecodeAndApply each make exactly one pass over that day.
//                       Target: >= 1M events/s on one core.
//   BM_ApplyWeek        BM_Apply with the same 3M events spread over a week (a replay).
//   BM_ApplyAndPublish  the same plus TakeCells + FillProgress every 100k events (snapshots
//                       of changed cells, as on each flush).
//   BM_DecodeAndApply/{json,protobuf}  EventCodec::Decode (full validation) of the encoded
//                       events, then Apply, as the aggregator does per record. Target: >= 1M
//                       events/s on one core (JSON).
//   BM_DecodeAheadAndApply  BM_DecodeAndApply/json as the aggregator's RecordRouter runs it:
//                       each record decoded and prepared (PartitionAggregator::Prepare, which
//                       prefetches) 8 records before it is applied. The same target.
//   BM_StateMemory7Days 1M distinct participants across 200 areas over 7 days of event time
//                       (3M events): MemoryBytes() of the state, reported as counters.
//                       Target: < 256 MiB.
//   BM_StateMemory7DaysRss the same week, as the peak RSS of a process that builds only that
//                       state (run it alone: --benchmark_filter=BM_StateMemory7DaysRss).
//   BM_Compute          IndicatorStore::Compute over that state's full snapshot.
//
// The event stream is deterministic (fixed seed); "pre-decoded" means a reused Event filled
// in place, as the decoders do, so no allocation is measured that the app would not do.
#include <array>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"
#include "civicpulse/core/area_cap.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/indicator_store.h"
#include "civicpulse/core/partition_aggregator.h"
#include "civicpulse/v1/aggregate.pb.h"
#include "civicpulse/v1/checkpoint.pb.h"

namespace civicpulse::core {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000 / kDayMs * kDayMs;
constexpr int kAreas = 200;
constexpr int kParticipants = 1'000'000;

// Draws a stream's events one at a time, in order, storing nothing: `events` events spread
// evenly over `span_ms` of event time with up to 2 minutes of disorder. Each participant has
// a home area (80% of their events) so per-area sketches look like a city's, not like
// uniform noise. Every participant appears at least once when events >= kParticipants.
class EventSource {
 public:
  struct Drawn {
    uint32_t participant;
    uint16_t area;
    int64_t time_ms;
    uint8_t kind;
    uint8_t age_band;
  };

  EventSource(size_t events, int64_t span_ms, uint64_t seed)
      : events_(events), span_ms_(span_ms), rng_(seed) {}

  Drawn Next() {
    const size_t i = next_++;
    Drawn d;
    d.participant = i < kParticipants ? static_cast<uint32_t>((i * 7919) % kParticipants)
                                      : static_cast<uint32_t>(rng_() % kParticipants);
    d.area = static_cast<uint16_t>(rng_() % 5 == 0 ? rng_() % kAreas : d.participant % kAreas);
    const int64_t base = static_cast<int64_t>(static_cast<double>(i) / events_ * span_ms_);
    d.time_ms = kT0 + base - static_cast<int64_t>(rng_() % (2 * kMinuteMs));
    d.kind = static_cast<uint8_t>(1 + rng_() % 3);
    d.age_band = static_cast<uint8_t>(rng_() % 3 == 0 ? rng_() % kAgeBandCount : 0);
    return d;
  }

  // Fills `e` in place with a drawn event (names formatted here; ids unique by `id`).
  static void Fill(const Drawn& d, uint64_t id, Event* e) {
    char buffer[24] = {'e', '-'};
    auto [end, ec] = std::to_chars(buffer + 2, buffer + sizeof(buffer), id);
    (void)ec;
    e->event_id.assign(buffer, end);
    e->SetKind(static_cast<Kind>(d.kind));
    e->has_participant = true;
    buffer[0] = 'p';
    end = std::to_chars(buffer + 2, buffer + sizeof(buffer), d.participant).ptr;
    e->participant.assign(buffer, end);
    buffer[0] = 'W';
    end = std::to_chars(buffer + 1, buffer + sizeof(buffer), d.area).ptr;
    e->area.assign(buffer, end);
    e->occurred_at_ms = d.time_ms;
    e->hours = e->kind == Kind::kVolunteerShift ? 2.5 : 0;
    e->weight_kg = e->kind == Kind::kRecycling ? 3.2 : 0;
    e->age_band = static_cast<AgeBand>(d.age_band);
  }

 private:
  size_t events_;
  int64_t span_ms_;
  std::mt19937_64 rng_;
  size_t next_ = 0;
};

// A compact event stream (EventSource's events, stored): participant and area indices,
// times and kinds; names pre-built.
struct Stream {
  std::vector<std::string> participant_names;
  std::vector<std::string> area_names;
  std::vector<uint32_t> participant;
  std::vector<uint16_t> area;
  std::vector<int64_t> time_ms;
  std::vector<uint8_t> kind;
  std::vector<uint8_t> age_band;

  Stream(size_t events, int64_t span_ms, uint64_t seed) {
    for (int i = 0; i < kParticipants; ++i) participant_names.push_back("p-" + std::to_string(i));
    for (int i = 0; i < kAreas; ++i) area_names.push_back("W" + std::to_string(i));
    EventSource source(events, span_ms, seed);
    participant.resize(events);
    area.resize(events);
    time_ms.resize(events);
    kind.resize(events);
    age_band.resize(events);
    for (size_t i = 0; i < events; ++i) {
      const EventSource::Drawn d = source.Next();
      participant[i] = d.participant;
      area[i] = d.area;
      time_ms[i] = d.time_ms;
      kind[i] = d.kind;
      age_band[i] = d.age_band;
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

// Times the benchmark loop itself so that rates of different benchmarks can be compared
// within the run (Google Benchmark's own rates are only computed after a benchmark ends).
// Thread CPU time, like Google Benchmark's items_per_second, so that a machine shared with
// other work skews the ratio less.
class RateClock {
 public:
  RateClock() : start_(ThreadSeconds()) {}
  double PerSecond(int64_t items) const {
    return static_cast<double>(items) / (ThreadSeconds() - start_);
  }

 private:
  static double ThreadSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  double start_;
};

double g_baseline_rate = 0;

void ReportVsBaseline(benchmark::State& state, const RateClock& clock) {
  state.SetItemsProcessed(state.iterations());
  if (g_baseline_rate > 0) {
    state.counters["vs_baseline"] = clock.PerSecond(state.iterations()) / g_baseline_rate;
  }
}

void BM_BaselineHashCount(benchmark::State& state) {
  const Stream& stream = ApplyStream();
  absl::flat_hash_map<std::string, int64_t> by_area, by_participant;
  Event e;
  size_t i = 0;
  uint64_t id = 0;
  RateClock clock;
  for (auto _ : state) {
    if (i == stream.size()) i = 0;
    stream.Fill(i, id++, &e);
    ++by_area[e.area];
    ++by_participant[e.participant];
    ++i;
  }
  g_baseline_rate = clock.PerSecond(state.iterations());
  benchmark::DoNotOptimize(by_participant.size());
  state.SetItemsProcessed(state.iterations());
}
// Every stream benchmark does exactly one pass over the 3M-event day, so that all of them
// measure the same work (state grows during the pass; a partial pass would flatter).
constexpr int64_t kOnePass = 3'000'000;
BENCHMARK(BM_BaselineHashCount)->Iterations(kOnePass);

// The same number of events spread over a week (a replay or backfill): few events per cell.
const Stream& WeekStream() {
  static const Stream* stream = new Stream(3'000'000, 7 * kDayMs, 1);
  return *stream;
}

void RunApply(benchmark::State& state, bool publish, const Stream& stream = ApplyStream()) {
  EngineOptions options;
  AreaCap areas(AreaCapOptions{});
  auto agg = std::make_unique<PartitionAggregator>(options, &areas);
  Event e;
  std::vector<v1::Cell> cells;
  v1::PartitionProgress progress;
  size_t i = 0;
  uint64_t id = 0;
  RateClock clock;
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
  ReportVsBaseline(state, clock);
  state.counters["state_MiB"] = static_cast<double>(agg->MemoryBytes()) / (1 << 20);
}

void BM_Apply(benchmark::State& state) { RunApply(state, false); }
BENCHMARK(BM_Apply)->Iterations(kOnePass);

void BM_ApplyWeek(benchmark::State& state) { RunApply(state, false, WeekStream()); }
BENCHMARK(BM_ApplyWeek)->Iterations(kOnePass);

void BM_ApplyAndPublish(benchmark::State& state) { RunApply(state, true); }
BENCHMARK(BM_ApplyAndPublish)->Iterations(kOnePass);

// ApplyStream()'s events encoded as the simulator does (JSON and protobuf; ~0.9 GB).
struct EncodedStream {
  std::vector<std::string> json, protobuf;
};

const EncodedStream& Encoded() {
  static const EncodedStream* encoded = [] {
    auto* out = new EncodedStream;
    const Stream& stream = ApplyStream();
    const size_t n = stream.size();
    EventCodec codec;
    Event e;
    std::string value;
    out->json.reserve(n);
    out->protobuf.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      stream.Fill(i, i, &e);
      codec.EncodeJson(e, &value);
      out->json.push_back(value);
      codec.EncodeProtobuf(e, &value);
      out->protobuf.push_back(value);
    }
    return out;
  }();
  return *encoded;
}

void BM_DecodeAndApply(benchmark::State& state, bool json) {
  const Stream& stream = ApplyStream();
  const std::vector<std::string>& records = json ? Encoded().json : Encoded().protobuf;
  double bytes = 0;
  for (const std::string& r : records) bytes += static_cast<double>(r.size());
  const int64_t decode_now_ms = kT0 + 2 * kDayMs;  // after every event: none is in the future
  EngineOptions options;
  AreaCap areas(AreaCapOptions{});
  auto agg = std::make_unique<PartitionAggregator>(options, &areas);
  EventCodec codec;
  Event e;
  int64_t rejected = 0;
  size_t i = 0;
  RateClock clock;
  for (auto _ : state) {
    if (i == records.size()) {  // a fresh partition for the next pass (event ids repeat)
      state.PauseTiming();
      agg = std::make_unique<PartitionAggregator>(options, &areas);
      i = 0;
      state.ResumeTiming();
    }
    if (codec.Decode(records[i], Encoding::kAuto, decode_now_ms, &e).ok()) {
      benchmark::DoNotOptimize(agg->Apply(e, stream.time_ms[i]));
    } else {
      ++rejected;
    }
    ++i;
    if ((i & 0xFFFF) == 0) agg->Tick(stream.time_ms[i - 1]);
  }
  if (rejected != 0) state.SkipWithError("a benchmark record was rejected");
  ReportVsBaseline(state, clock);
  state.SetBytesProcessed(static_cast<int64_t>(
      static_cast<double>(state.iterations()) * bytes / static_cast<double>(records.size())));
  state.counters["bytes_per_event"] = bytes / static_cast<double>(records.size());
}
BENCHMARK_CAPTURE(BM_DecodeAndApply, json, true)->Iterations(kOnePass);
BENCHMARK_CAPTURE(BM_DecodeAndApply, protobuf, false)->Iterations(kOnePass);

// BM_DecodeAndApply/json as the aggregator's RecordRouter does it: each record decoded
// kAhead records before it is applied and prepared then (PartitionAggregator::Prepare).
void BM_DecodeAheadAndApply(benchmark::State& state) {
  constexpr size_t kAhead = 8;
  const Stream& stream = ApplyStream();
  const std::vector<std::string>& records = Encoded().json;
  const int64_t decode_now_ms = kT0 + 2 * kDayMs;
  EngineOptions options;
  AreaCap areas(AreaCapOptions{});
  auto agg = std::make_unique<PartitionAggregator>(options, &areas);
  EventCodec codec;
  std::array<Event, kAhead> ring;
  std::array<bool, kAhead> ok{};
  std::array<PartitionAggregator::Prepared, kAhead> prepared;
  auto decode = [&](size_t i) {
    ok[i % kAhead] = codec.Decode(records[i], Encoding::kAuto, decode_now_ms, &ring[i % kAhead]).ok();
    if (ok[i % kAhead]) prepared[i % kAhead] = agg->Prepare(ring[i % kAhead]);
  };
  int64_t rejected = 0;
  size_t i = 0;
  for (size_t k = 0; k < kAhead; ++k) decode(k);
  RateClock clock;
  for (auto _ : state) {
    if (i == records.size()) {
      state.PauseTiming();
      agg = std::make_unique<PartitionAggregator>(options, &areas);
      i = 0;
      for (size_t k = 0; k < kAhead; ++k) decode(k);
      state.ResumeTiming();
    }
    if (ok[i % kAhead]) {
      benchmark::DoNotOptimize(
          agg->Apply(ring[i % kAhead], prepared[i % kAhead], stream.time_ms[i]));
    } else {
      ++rejected;
    }
    if (i + kAhead < records.size()) decode(i + kAhead);
    ++i;
    if ((i & 0xFFFF) == 0) agg->Tick(stream.time_ms[i - 1]);
  }
  if (rejected != 0) state.SkipWithError("a benchmark record was rejected");
  ReportVsBaseline(state, clock);
}
BENCHMARK(BM_DecodeAheadAndApply)->Iterations(kOnePass);

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
    std::vector<v1::Cell> cells;
    for (size_t i = 0; i < stream.size(); ++i) {
      stream.Fill(i, i, &e);
      w->agg->Apply(e, stream.time_ms[i]);
      if ((i & 0xFFFF) == 0) {
        // As the aggregator does on every flush: advance, then take the changed cells.
        w->agg->Tick(stream.time_ms[i]);
        cells.clear();
        w->agg->TakeCells(&cells);
      }
    }
    w->agg->Tick(stream.time_ms.back());
    cells.clear();
    w->agg->TakeCells(&cells);
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

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

// The same week, as the peak resident set of a process that does only that: run it alone
// (--benchmark_filter=BM_StateMemory7DaysRss), since the peak is the process's. The events
// are drawn one at a time (EventSource) so that nothing but the engine's state, the
// benchmark library and the code is resident; `rss_at_start_MiB` is the process before the
// first event (a figure above ~30 MiB means something else ran first).
void BM_StateMemory7DaysRss(benchmark::State& state) {
  const double rss_at_start = PeakRssMiB();
  size_t bytes = 0, cells = 0;
  for (auto _ : state) {
    AreaCap areas{AreaCapOptions{}};
    PartitionAggregator agg(EngineOptions{}, &areas);
    EventSource source(3'000'000, 7 * kDayMs, 2);  // Week()'s events
    Event e;
    std::vector<v1::Cell> taken;
    int64_t t = 0;
    for (size_t i = 0; i < 3'000'000; ++i) {
      const EventSource::Drawn d = source.Next();
      EventSource::Fill(d, i, &e);
      t = d.time_ms;
      agg.Apply(e, t);
      if ((i & 0xFFFF) == 0) {  // as the aggregator does on every flush
        agg.Tick(t);
        agg.TakeCells(&taken);
        taken.clear();
      }
    }
    agg.Tick(t);
    agg.TakeCells(&taken);
    taken.clear();
    bytes = agg.MemoryBytes();
    cells = agg.cell_count();
  }
  state.counters["peak_rss_MiB"] = PeakRssMiB();
  state.counters["rss_at_start_MiB"] = rss_at_start;
  state.counters["state_MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["cells"] = static_cast<double>(cells);
}
BENCHMARK(BM_StateMemory7DaysRss)->Iterations(1)->Unit(benchmark::kMillisecond);

// Checkpoint and restore of that state (docs/delivery.md): the full snapshot a new owner of
// the partition reads from the changelog, cut into 512 KiB pieces as the aggregator writes
// them, serialized as they go to Kafka; then parsed and applied to a fresh engine. Kafka's
// own transfer is not included (a broker serves a partition at hundreds of MB/s).
std::vector<std::string>& WeekSnapshot() {
  static auto* pieces = [] {
    auto* out = new std::vector<std::string>;
    std::vector<v1::StatePiece> protos;
    Week().agg->EnableCheckpoints();
    Week().agg->WriteSnapshot(512 * 1024, &protos);
    for (const v1::StatePiece& piece : protos) out->push_back(piece.SerializeAsString());
    return out;
  }();
  return *pieces;
}

void BM_SnapshotWeek(benchmark::State& state) {
  WeekState& week = Week();
  week.agg->EnableCheckpoints();
  size_t bytes = 0, count = 0;
  for (auto _ : state) {
    std::vector<v1::StatePiece> protos;
    week.agg->WriteSnapshot(512 * 1024, &protos);
    bytes = 0;
    count = protos.size();
    for (const v1::StatePiece& piece : protos) bytes += piece.SerializeAsString().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["snapshot_MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["pieces"] = static_cast<double>(count);
  state.counters["bytes_per_participant"] = static_cast<double>(bytes) / kParticipants;
}
BENCHMARK(BM_SnapshotWeek)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_RestoreWeek(benchmark::State& state) {
  const std::vector<std::string>& pieces = WeekSnapshot();
  size_t bytes = 0;
  for (const std::string& p : pieces) bytes += p.size();
  const int64_t now = Week().agg->max_event_ms();
  for (auto _ : state) {
    AreaCap areas{AreaCapOptions{}};
    PartitionAggregator restored(EngineOptions{}, &areas);
    v1::StatePiece piece;
    for (const std::string& p : pieces) {
      piece.ParseFromString(p);
      if (!restored.ApplyPiece(piece, now).ok()) state.SkipWithError("restore failed");
    }
    benchmark::DoNotOptimize(restored.cell_count());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
  state.counters["snapshot_MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_RestoreWeek)->Unit(benchmark::kMillisecond)->Iterations(3);

// One full snapshot of the week's state, as after a periodic full re-publish.
const std::vector<v1::PartialAggregate>& WeekRecords() {
  static auto* records = [] {
    auto* out = new std::vector<v1::PartialAggregate>;
    std::vector<v1::Cell> cells;
    Week().agg->TakeCells(&cells, /*all=*/true);
    v1::PartialAggregate record;
    record.set_source_topic("events");
    record.set_source_partition(0);
    record.set_source_offset(1);
    for (v1::Cell& cell : cells) {
      record.mutable_cell()->Swap(&cell);
      out->push_back(record);
    }
    Week().agg->FillProgress(record.mutable_progress());
    out->push_back(record);
    return out;
  }();
  return *records;
}

void BM_Compute(benchmark::State& state) {
  size_t series = 0, bytes = 0;
  for (auto _ : state) {
    // A fresh store's first Compute merges everything: the cost of a merge from scratch
    // (exporter_benchmark measures the incremental steady state).
    state.PauseTiming();
    IndicatorStore fresh(IndicatorOptions{});
    for (const v1::PartialAggregate& r : WeekRecords()) fresh.Apply(r);
    state.ResumeTiming();
    Indicators indicators = fresh.Compute();
    series = indicators.series.size();
    benchmark::DoNotOptimize(indicators.series.data());
    state.PauseTiming();
    bytes = fresh.MemoryBytes();
    state.ResumeTiming();
  }
  state.counters["area_kind_series"] = static_cast<double>(series);
  state.counters["store_MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_Compute)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
}  // namespace civicpulse::core
