// The aggregator's RecordRouter (services/aggregator/record_router.h): batches of JSON records
// of 16 partitions decoded and applied by 1, 2 or 4 lanes, in wall-clock time (the lanes run
// at once). Records come in runs of one partition, as librdkafka's fetches deliver them, 10,000
// to a batch (the aggregator's largest poll); one pass over 600,000 events of the last hour,
// each pass into fresh engines.
//
//   BM_Route/<lanes>  records/s; `vs_one_lane` divides by BM_Route/1's rate in the same run.
//
// No Kafka: the records are views of pre-encoded values, so this is the router's scaling alone
// (bench/pipeline_throughput.sh measures the whole consumer, where librdkafka's fetcher and
// the broker want cores too).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "civicpulse/core/event_codec.h"
#include "prometheus/registry.h"
#include "record_router.h"

namespace civicpulse::aggregator {
namespace {

constexpr int64_t kNowMs = 1'780'000'000'000;
constexpr int kPartitions = 16;
constexpr size_t kEvents = 600'000;
constexpr size_t kBatch = 10'000;
constexpr char kTopic[] = "civicpulse.events.v1";

struct Stream {
  std::vector<std::string> values;
  std::vector<int32_t> partition;
  std::vector<int64_t> offset;
};

const Stream& Events() {
  static const Stream* stream = [] {
    auto* s = new Stream;
    std::mt19937_64 rng(1);
    core::EventCodec codec;
    std::vector<int64_t> next(kPartitions, 0);
    while (s->values.size() < kEvents) {
      const auto p = static_cast<int32_t>(rng() % kPartitions);
      const size_t run = 200 + rng() % 800;
      for (size_t k = 0; k < run && s->values.size() < kEvents; ++k) {
        core::Event e;
        e.event_id = absl::StrCat("e-", s->values.size());
        e.SetKind(static_cast<core::Kind>(1 + rng() % 3));
        e.hours = e.kind == core::Kind::kVolunteerShift ? 2.5 : 0;
        e.weight_kg = e.kind == core::Kind::kRecycling ? 3.2 : 0;
        e.participant = absl::StrCat("p-", rng() % 200'000);
        e.area = absl::StrCat("W", p * 12 + static_cast<int>(rng() % 12));
        e.occurred_at_ms = kNowMs - static_cast<int64_t>(rng() % 3'600'000);
        e.source = "bench";
        std::string value;
        codec.EncodeJson(e, &value);
        s->values.push_back(std::move(value));
        s->partition.push_back(p);
        s->offset.push_back(next[p]++);
      }
    }
    return s;
  }();
  return *stream;
}

double g_one_lane_rate = 0;

void BM_Route(benchmark::State& state) {
  const Stream& stream = Events();
  std::vector<std::vector<kafka::ConsumerRecord>> batches;
  for (size_t begin = 0; begin < kEvents; begin += kBatch) {
    auto& batch = batches.emplace_back();
    for (size_t i = begin; i < std::min(kEvents, begin + kBatch); ++i) {
      batch.push_back({.topic = kTopic,
                       .partition = stream.partition[i],
                       .offset = stream.offset[i],
                       .timestamp_ms = kNowMs,
                       .value = stream.values[i]});
    }
  }
  const int lanes = static_cast<int>(state.range(0));
  double seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    prometheus::Registry registry;
    AggregatorMetrics metrics(registry);
    auto owned = std::make_unique<OwnedPartitions>(kTopic, core::EngineOptions{},
                                                   core::AreaCapOptions{}, &metrics);
    for (int32_t p = 0; p < kPartitions; ++p) {
      owned->Assign(p, owned->NewEngine(), -1, {.epoch = 1, .owner = 1}, kNowMs);
    }
    DeadLetterQueue dead_letters("dlq", 70'000, &metrics);
    RecordRouter router(owned.get(), &dead_letters, &metrics, lanes);
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    for (const auto& batch : batches) router.Route(batch, kNowMs);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.PauseTiming();
    if (metrics.dropped_records.Value() != 0) state.SkipWithError("records dropped");
    owned.reset();  // engines freed outside the timing
    state.ResumeTiming();
  }
  const double rate = static_cast<double>(state.iterations() * kEvents) / seconds;
  if (lanes == 1) g_one_lane_rate = rate;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kEvents));
  if (g_one_lane_rate > 0) state.counters["vs_one_lane"] = rate / g_one_lane_rate;
}
BENCHMARK(BM_Route)->Arg(1)->Arg(2)->Arg(4)->Iterations(3)->UseRealTime()->Unit(
    benchmark::kMillisecond);

}  // namespace
}  // namespace civicpulse::aggregator
