// Decoding throughput of EventCodec against a bare-RapidJSON ceiling, measured in one run.
//
// The records are a realistic mix shaped like docs/reference.md's examples (~185 bytes each).
// Every benchmark counts events per area in a hash map, the minimum useful work a consumer
// does, so that the ratios compare like with like:
//   ceiling_insitu_pooled  ParseInsitu into one reused Document whose pool is reset per record
//   ceiling_insitu_fresh   ParseInsitu into a fresh Document per record (the common idiom)
//   codec_json             EventCodec::Decode (full validation) with one reused Event
//   codec_protobuf         the same events as protobuf
// `vs_ceiling` is a benchmark's rate divided by ceiling_insitu_pooled's rate in this run.
#include <chrono>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "benchmark/benchmark.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "rapidjson/document.h"

namespace civicpulse::core {
namespace {

constexpr int kRecords = 4096;

int64_t Now() {
  int64_t ms = 0;
  ParseRfc3339("2026-11-23T00:00:00Z", &ms);
  return ms;
}

// A deterministic mix: half watch reports, a quarter each shifts and recycling.
std::vector<std::string> JsonRecords() {
  static const char* const kCategories[] = {"suspicious_vehicle", "graffiti", "noise",
                                            "street_light_out"};
  static const char* const kOrganisations[] = {"City Hospital", "Food Bank North",
                                               "Riverside Care Home"};
  static const char* const kMaterials[] = {"glass", "paper", "plastic", "metal"};
  static const char* const kBands[] = {"16-24", "25-34", "45-54", "65-74", "75+"};
  std::vector<std::string> records;
  records.reserve(kRecords);
  uint64_t x = 88172645463325252ull;  // xorshift: reproducible, no <random> state
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  char buf[512];
  for (int i = 0; i < kRecords; ++i) {
    const int area = static_cast<int>(next() % 30) + 1;
    const int participant = static_cast<int>(next() % 5000) + 1;
    const int minute = static_cast<int>(next() % 1440);
    const char* band = kBands[next() % 5];
    int n = 0;
    switch (i % 4) {
      case 0:
      case 1:
        n = std::snprintf(buf, sizeof(buf),
                          R"({"event_id":"nw-2026-%06d","kind":"watch_report","participant":)"
                          R"("p-%d","area":"W%02d","occurred_at":"2026-11-22T%02d:%02d:05Z",)"
                          R"("category":"%s","age_band":"%s","source":"simulator"})",
                          i, participant, area, minute / 60, minute % 60, kCategories[next() % 4],
                          band);
        break;
      case 2:
        n = std::snprintf(buf, sizeof(buf),
                          R"({"event_id":"vs-%d","kind":"volunteer_shift","participant":"p-%d",)"
                          R"("area":"W%02d","occurred_at":"2026-11-22T%02d:%02d:00+00:00",)"
                          R"("hours":%d.5,"organisation":"%s","source":"simulator"})",
                          i, participant, area, minute / 60, minute % 60,
                          static_cast<int>(next() % 8) + 1, kOrganisations[next() % 3]);
        break;
      case 3:
        n = std::snprintf(
            buf, sizeof(buf),
            R"({"event_id":"rc-%d","kind":"recycling","participant":"p-%d",)"
            R"("area":"W%02d","occurred_at":"2026-11-22T%02d:%02d:00Z",)"
            R"("weight_kg":%d.2,"material":"%s","mode":"individual","source":"simulator"})",
            i, participant, area, minute / 60, minute % 60, static_cast<int>(next() % 20) + 1,
            kMaterials[next() % 4]);
        break;
    }
    records.emplace_back(buf, n);
  }
  return records;
}

const std::vector<std::string>& Records() {
  static const std::vector<std::string> records = JsonRecords();
  return records;
}

double MeanBytes(const std::vector<std::string>& records) {
  double total = 0;
  for (const std::string& r : records) total += static_cast<double>(r.size());
  return total / static_cast<double>(records.size());
}

// Events per area; the key string is reused so that a hit does not allocate.
class AreaCount {
 public:
  void Add(const char* area, size_t length) {
    key_.assign(area, length);
    auto it = counts_.find(key_);
    if (it != counts_.end()) {
      ++it->second;
    } else {
      counts_.emplace(key_, 1);
    }
  }
  size_t size() const { return counts_.size(); }

 private:
  std::string key_;
  std::unordered_map<std::string, int64_t> counts_;
};

// Times the benchmark loop itself so that rates of different benchmarks can be compared
// within the run (Google Benchmark's own rates are only computed after a benchmark ends).
class RateClock {
 public:
  RateClock() : start_(std::chrono::steady_clock::now()) {}
  double PerSecond(int64_t items) const {
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    return static_cast<double>(items) / elapsed.count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

double g_ceiling_rate = 0;

void Report(benchmark::State& state, double rate, double mean_bytes) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(
      static_cast<int64_t>(static_cast<double>(state.iterations()) * mean_bytes));
  state.counters["bytes_per_event"] = mean_bytes;
  if (g_ceiling_rate > 0) state.counters["vs_ceiling"] = rate / g_ceiling_rate;
}

// Room for any record and the 16 bytes past its terminator that RapidJSON's SSE2 scans may
// read (CMakeLists.txt, RAPIDJSON_SSE2).
constexpr size_t kInsituBufferBytes = 4096;

void BM_CeilingInsituPooled(benchmark::State& state) {
  const std::vector<std::string>& records = Records();
  static char pool_buffer[16 * 1024];
  rapidjson::MemoryPoolAllocator<> pool(pool_buffer, sizeof(pool_buffer));
  rapidjson::Document doc(&pool);
  std::string buffer;
  buffer.reserve(kInsituBufferBytes);
  AreaCount counts;
  size_t i = 0;
  RateClock clock;
  for (auto _ : state) {
    const std::string& record = records[i++ % records.size()];
    buffer.assign(record);
    doc.SetNull();
    pool.Clear();
    doc.ParseInsitu(buffer.data());
    if (!doc.HasParseError() && doc.IsObject()) {
      auto area = doc.FindMember("area");
      if (area != doc.MemberEnd() && area->value.IsString()) {
        counts.Add(area->value.GetString(), area->value.GetStringLength());
      }
    }
  }
  g_ceiling_rate = clock.PerSecond(state.iterations());
  benchmark::DoNotOptimize(counts.size());
  Report(state, g_ceiling_rate, MeanBytes(records));
}
BENCHMARK(BM_CeilingInsituPooled)->Name("ceiling_insitu_pooled");

void BM_CeilingInsituFresh(benchmark::State& state) {
  const std::vector<std::string>& records = Records();
  std::string buffer;
  buffer.reserve(kInsituBufferBytes);
  AreaCount counts;
  size_t i = 0;
  RateClock clock;
  for (auto _ : state) {
    const std::string& record = records[i++ % records.size()];
    buffer.assign(record);
    rapidjson::Document doc;
    doc.ParseInsitu(buffer.data());
    if (!doc.HasParseError() && doc.IsObject()) {
      auto area = doc.FindMember("area");
      if (area != doc.MemberEnd() && area->value.IsString()) {
        counts.Add(area->value.GetString(), area->value.GetStringLength());
      }
    }
  }
  const double rate = clock.PerSecond(state.iterations());
  benchmark::DoNotOptimize(counts.size());
  Report(state, rate, MeanBytes(records));
}
BENCHMARK(BM_CeilingInsituFresh)->Name("ceiling_insitu_fresh");

void BM_CodecJson(benchmark::State& state) {
  const std::vector<std::string>& records = Records();
  const int64_t now = Now();
  EventCodec codec;
  Event event;
  AreaCount counts;
  int64_t rejected = 0;
  size_t i = 0;
  RateClock clock;
  for (auto _ : state) {
    const std::string& record = records[i++ % records.size()];
    if (codec.Decode(record, Encoding::kAuto, now, &event).ok()) {
      counts.Add(event.area.data(), event.area.size());
    } else {
      ++rejected;
    }
  }
  const double rate = clock.PerSecond(state.iterations());
  if (rejected != 0) state.SkipWithError("a benchmark record was rejected");
  benchmark::DoNotOptimize(counts.size());
  Report(state, rate, MeanBytes(records));
}
BENCHMARK(BM_CodecJson)->Name("codec_json");

void BM_CodecProtobuf(benchmark::State& state) {
  const int64_t now = Now();
  EventCodec codec;
  Event event;
  std::vector<std::string> records;
  for (const std::string& json : Records()) {
    if (!codec.Decode(json, Encoding::kJson, now, &event).ok()) {
      state.SkipWithError("a benchmark record was rejected");
      return;
    }
    records.emplace_back();
    codec.EncodeProtobuf(event, &records.back());
  }
  AreaCount counts;
  int64_t rejected = 0;
  size_t i = 0;
  RateClock clock;
  for (auto _ : state) {
    const std::string& record = records[i++ % records.size()];
    if (codec.Decode(record, Encoding::kAuto, now, &event).ok()) {
      counts.Add(event.area.data(), event.area.size());
    } else {
      ++rejected;
    }
  }
  const double rate = clock.PerSecond(state.iterations());
  if (rejected != 0) state.SkipWithError("a benchmark record was rejected");
  benchmark::DoNotOptimize(counts.size());
  Report(state, rate, MeanBytes(records));
}
BENCHMARK(BM_CodecProtobuf)->Name("codec_protobuf");

void BM_EncodeJson(benchmark::State& state) {
  const int64_t now = Now();
  EventCodec codec;
  std::vector<Event> events(Records().size());
  for (size_t i = 0; i < events.size(); ++i) {
    if (!codec.Decode(Records()[i], Encoding::kJson, now, &events[i]).ok()) {
      state.SkipWithError("a benchmark record was rejected");
      return;
    }
  }
  std::string out;
  size_t i = 0;
  double bytes = 0;
  for (auto _ : state) {
    codec.EncodeJson(events[i++ % events.size()], &out);
    bytes += static_cast<double>(out.size());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_event"] =
      state.iterations() ? bytes / static_cast<double>(state.iterations()) : 0;
}
BENCHMARK(BM_EncodeJson)->Name("encode_json");

}  // namespace
}  // namespace civicpulse::core
