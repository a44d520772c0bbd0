// ParticipantSketch benchmarks (services/core): the per-event cost of distinct counting.
//
//   BM_HashParticipant   the stable 64-bit hash of a pseudonym (64 hex chars, as ingest makes).
//   BM_AddExact          Add into an exact-mode sketch (<= 2048 people); items/s.
//   BM_AddDense          Add into a dense (HyperLogLog + bottom-k sample) sketch; items/s.
//   BM_Merge             Merge of two dense sketches (what the exporter does per cell).
//   BM_Estimate          Ertl's estimator over 2^14 registers.
//   BM_BaselineFlatHashSet  the ceiling for exact counting: inserting the same hashes into an
//                        absl::flat_hash_set<uint64_t>, measured in the same run; compare
//                        BM_AddExact's items/s with it.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "benchmark/benchmark.h"
#include "civicpulse/core/participant_sketch.h"

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

void BM_AddExact(benchmark::State& state) {
  const std::vector<uint64_t> hashes = Hashes(1000);
  size_t i = 0;
  ParticipantSketch sketch;
  for (auto _ : state) {
    sketch.Add(hashes[i]);
    if (++i == hashes.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddExact);

void BM_BaselineFlatHashSet(benchmark::State& state) {
  const std::vector<uint64_t> hashes = Hashes(1000);
  size_t i = 0;
  absl::flat_hash_set<uint64_t> set;
  for (auto _ : state) {
    set.insert(hashes[i]);
    if (++i == hashes.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineFlatHashSet);

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

void BM_Estimate(benchmark::State& state) {
  ParticipantSketch sketch;
  for (uint64_t h : Hashes(100000)) sketch.Add(h);
  for (auto _ : state) benchmark::DoNotOptimize(sketch.Estimate());
}
BENCHMARK(BM_Estimate);

}  // namespace
}  // namespace civicpulse::core
