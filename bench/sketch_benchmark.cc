// ParticipantSketch benchmarks (services/core): the per-event cost of distinct counting.
//
//   BM_HashParticipant   the stable 64-bit hash of a pseudonym (64 hex chars, as ingest makes).
//   BM_AddExact          Add into an exact-mode sketch (<= 2048 people); items/s.
//   BM_AddIntoArray/n    n people, two events each, into a fresh sketch (the sorted-array form
//                        of the cells of a busy stream); items/s.
//   BM_AddDense          Add into a dense (HyperLogLog + bottom-k sample) sketch; items/s.
//   BM_AddNewIntoYoungDense  Add of new people into a sketch that has just turned dense.
//   BM_Merge             Merge of two dense sketches (what the exporter does per cell).
//   BM_Estimate          Ertl's estimator over 2^14 registers.
//   BM_UnionEstimate/k/n the distinct count of k sketches of n people (hour sealing).
//   BM_BaselineFlatHashSet  the ceiling for exact counting: inserting the same hashes into an
//                        absl::flat_hash_set<uint64_t>, measured in the same run (first);
//                        BM_AddExact's `vs_flat_hash_set` is its rate divided by this one's.
//   BM_ToProto/n         serialising an exact sketch of n people (the hash-map form above
//                        kArrayLimit), as every publish and checkpoint of a changed cell does;
//   BM_BaselineToProtoStdSort/n  the former way, measured first in the same run: copy the
//                        map's entries, std::sort them, add them one by one. BM_ToProto's
//                        `vs_std_sort` is its rate divided by that one's.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "benchmark/benchmark.h"
#include "civicpulse/core/participant_sketch.h"
#include "civicpulse/v1/aggregate.pb.h"

namespace civicpulse::core {
namespace {

std::vector<uint64_t> Hashes(int n) {
  std::vector<uint64_t> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(HashParticipant("p-" + std::to_string(i)));
  return out;
}

void BM_HashParticipant(benchmark::State& state) {
  const std::string pseudonym(64, 'a');
  for (auto _ : state) benchmark::DoNotOptimize(HashParticipant(pseudonym));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HashParticipant);

// Rates timed around the loop, so that a later benchmark can compare within the run.
double g_flat_hash_set_rate = 0;

double PerSecond(std::chrono::steady_clock::time_point start, int64_t items) {
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return static_cast<double>(items) / elapsed.count();
}

void BM_BaselineFlatHashSet(benchmark::State& state) {
  const std::vector<uint64_t> hashes = Hashes(1000);
  size_t i = 0;
  absl::flat_hash_set<uint64_t> set;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    set.insert(hashes[i]);
    if (++i == hashes.size()) i = 0;
  }
  g_flat_hash_set_rate = PerSecond(start, state.iterations());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineFlatHashSet);

void BM_AddExact(benchmark::State& state) {
  const std::vector<uint64_t> hashes = Hashes(1000);
  size_t i = 0;
  ParticipantSketch sketch;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    sketch.Add(hashes[i]);
    if (++i == hashes.size()) i = 0;
  }
  if (g_flat_hash_set_rate > 0) {
    state.counters["vs_flat_hash_set"] =
        PerSecond(start, state.iterations()) / g_flat_hash_set_rate;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddExact);

// A cell's sketch filling up in the sorted-array form: fresh sketches, each given n distinct
// people (an event each) and then a second event of each; items/s are events. n = 4 is a
// busy 1-minute cell, 50 a 15-minute one, 120 and 400 the hourly cells of a dense day (the
// array holds up to kArrayLimit, 512, before it turns into a map).
void BM_AddIntoArray(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::vector<uint64_t> hashes = Hashes(4096);
  size_t offset = 0;
  for (auto _ : state) {
    ParticipantSketch sketch;
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < n; ++i) sketch.Add(hashes[(offset + i) % hashes.size()]);
    }
    benchmark::DoNotOptimize(sketch.Estimate());
    offset += n;
  }
  state.SetItemsProcessed(state.iterations() * 2 * n);
}
BENCHMARK(BM_AddIntoArray)->Arg(4)->Arg(50)->Arg(120)->Arg(400);

void BM_AddDense(benchmark::State& state) {
  const std::vector<uint64_t> hashes = Hashes(200000);
  size_t i = 0;
  ParticipantSketch sketch;
  for (uint64_t h : hashes) sketch.Add(h);
  for (auto _ : state) {
    sketch.Add(hashes[i]);
    if (++i == hashes.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddDense);

// Add of new participants into a sketch that has just turned dense (2,049 people, growing
// to 10,241), as every hour and quarter-hour cell of a dense stream does after it turns:
// most of them fall below the sample's threshold. Items: the adds.
void BM_AddNewIntoYoungDense(benchmark::State& state) {
  constexpr int kGrowth = 8192;
  const std::vector<uint64_t> hashes = Hashes(ParticipantSketch::kExactLimit + 1 + kGrowth);
  ParticipantSketch young;
  for (size_t i = 0; i <= ParticipantSketch::kExactLimit; ++i) young.Add(hashes[i]);
  for (auto _ : state) {
    ParticipantSketch sketch = young;
    for (size_t i = ParticipantSketch::kExactLimit + 1; i < hashes.size(); ++i) {
      sketch.Add(hashes[i]);
    }
    benchmark::DoNotOptimize(sketch.total_events());
  }
  state.SetItemsProcessed(state.iterations() * kGrowth);
}
BENCHMARK(BM_AddNewIntoYoungDense);

void BM_Merge(benchmark::State& state) {
  const std::vector<uint64_t> hashes = Hashes(100000);
  ParticipantSketch a, b;
  for (size_t i = 0; i < hashes.size(); ++i) (i % 2 ? a : b).Add(hashes[i]);
  for (auto _ : state) {
    ParticipantSketch merged = a;
    merged.Merge(b);
    benchmark::DoNotOptimize(merged.total_events());
  }
}
BENCHMARK(BM_Merge);

// An increment (a second's additions to a cell: 80 people, exact) merged into a dense cell
// or window, as the exporter does for every increment it reads.
void BM_MergeIncrementIntoDense(benchmark::State& state) {
  const std::vector<uint64_t> hashes = Hashes(200000);
  ParticipantSketch dense;
  for (size_t i = 0; i < 100000; ++i) dense.Add(hashes[i]);
  std::vector<ParticipantSketch> increments(64);
  for (size_t i = 0; i < increments.size(); ++i) {
    for (size_t j = 0; j < 80; ++j)
      increments[i].Add(hashes[(i * 7919 + j * 104729) % hashes.size()]);
  }
  size_t i = 0;
  for (auto _ : state) {
    dense.Merge(increments[i]);
    if (++i == increments.size()) i = 0;
  }
  benchmark::DoNotOptimize(dense.total_events());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MergeIncrementIntoDense);

void BM_Estimate(benchmark::State& state) {
  ParticipantSketch sketch;
  for (uint64_t h : Hashes(100000)) sketch.Add(h);
  for (auto _ : state) benchmark::DoNotOptimize(sketch.Estimate());
}
BENCHMARK(BM_Estimate);

// The distinct participants of a day (24 hourly sketches) or a week (168), as the engine's
// hour sealing counts them for every series every hour: args are the parts and the people per
// part, drawn from a pool 8x as large. 24 x 10 and 168 x 10: a week's replay, exact; 24 x 200:
// engine_benchmark's day (the union passes 2,048 people and is counted in registers).
void BM_UnionEstimate(benchmark::State& state) {
  const int parts_count = static_cast<int>(state.range(0));
  const int per_part = static_cast<int>(state.range(1));
  const std::vector<uint64_t> hashes = Hashes(8 * parts_count * per_part);
  std::vector<ParticipantSketch> parts(parts_count);
  uint64_t x = 1;
  for (ParticipantSketch& part : parts) {
    for (int j = 0; j < per_part; ++j) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      part.Add(hashes[(x >> 33) % hashes.size()]);
    }
  }
  std::vector<const ParticipantSketch*> pointers;
  for (const ParticipantSketch& part : parts) pointers.push_back(&part);
  for (auto _ : state) benchmark::DoNotOptimize(ParticipantSketch::UnionEstimate(pointers));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UnionEstimate)->Args({24, 10})->Args({168, 10})->Args({24, 200});

std::map<int64_t, double> g_std_sort_rate;  // by n

void BM_BaselineToProtoStdSort(benchmark::State& state) {
  absl::flat_hash_map<uint64_t, uint32_t> counts;
  for (uint64_t h : Hashes(static_cast<int>(state.range(0)))) counts[h] = 1;
  v1::ParticipantSketch out;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    out.Clear();
    std::vector<std::pair<uint64_t, uint32_t>> entries(counts.begin(), counts.end());
    std::sort(entries.begin(), entries.end());
    out.mutable_hashes()->Reserve(static_cast<int>(entries.size()));
    out.mutable_counts()->Reserve(static_cast<int>(entries.size()));
    for (const auto& [hash, count] : entries) {
      out.add_hashes(hash);
      out.add_counts(count);
    }
    benchmark::DoNotOptimize(out.hashes_size());
  }
  g_std_sort_rate[state.range(0)] = PerSecond(start, state.iterations());
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BaselineToProtoStdSort)->Arg(200)->Arg(1000)->Arg(2000);

void BM_ToProto(benchmark::State& state) {
  ParticipantSketch sketch;
  for (uint64_t h : Hashes(static_cast<int>(state.range(0)))) sketch.Add(h);
  v1::ParticipantSketch out;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    sketch.ToProto(&out);
    benchmark::DoNotOptimize(out.hashes_size());
  }
  if (g_std_sort_rate.count(state.range(0)) > 0) {
    state.counters["vs_std_sort"] =
        PerSecond(start, state.iterations()) / g_std_sort_rate[state.range(0)];
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ToProto)->Arg(200)->Arg(1000)->Arg(2000);

}  // namespace
}  // namespace civicpulse::core
