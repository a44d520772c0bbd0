// Checks that EventCodec's JSON hot path makes no heap allocation once warm, by counting
// calls of a replaced global operator new. In its own binary so that the replacement
// touches nothing else.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "gtest/gtest.h"

// GCC cannot see that this operator new and delete are a matched pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace civicpulse::core {
namespace {

int64_t Ms(const char* rfc3339) {
  int64_t ms = 0;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &ms));
  return ms;
}

const std::vector<std::string> kRecords = {
    R"({"event_id":"nw-2026-000123","kind":"watch_report","participant":"p-81","area":"W05",)"
    R"("occurred_at":"2026-11-22T18:04:05Z","category":"suspicious_vehicle","age_band":"65-74"})",
    R"({"event_id":"vs-991","kind":"volunteer_shift","participant":"p-7","area":"W01",)"
    R"("occurred_at":"2026-11-22T09:00:00+00:00","hours":3.5,"organisation":"City Hospital"})",
    R"({"event_id":"rc-55","kind":"recycling","participant":"p-300","area":"W12",)"
    R"("occurred_at":"2026-11-22T11:30:00Z","weight_kg":4.2,"material":"glass",)"
    R"("organisation":"A name longer than the small-string buffer","extra":{"a":[1,2]}})",
};

TEST(EventCodecAllocTest, WarmJsonDecodeDoesNotAllocate) {
  const int64_t now = Ms("2026-11-22T19:00:00Z");
  EventCodec codec;
  Event event;
  const int64_t cold = g_allocations.load();
  for (int pass = 0; pass < 2; ++pass) {  // warm up: buffers and strings reach capacity
    for (const std::string& record : kRecords) {
      ASSERT_TRUE(codec.Decode(record, Encoding::kAuto, now, &event).ok()) << record;
    }
  }
  ASSERT_GT(g_allocations.load(), cold) << "the counting operator new is not in use";
  const int64_t before = g_allocations.load();
  int64_t accepted = 0;
  for (int i = 0; i < 100; ++i) {
    for (const std::string& record : kRecords) {
      accepted += codec.Decode(record, Encoding::kAuto, now, &event).ok();
    }
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_EQ(accepted, 100 * static_cast<int64_t>(kRecords.size()));
}

TEST(EventCodecAllocTest, WarmEncodeJsonDoesNotAllocate) {
  EventCodec codec;
  Event event;
  ASSERT_TRUE(codec.Decode(kRecords[1], Encoding::kJson, Ms("2026-11-22T19:00:00Z"), &event).ok());
  std::string out;
  codec.EncodeJson(event, &out);
  const int64_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) codec.EncodeJson(event, &out);
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_NE(out.find("\"hours\":3.5"), std::string::npos);
}

}  // namespace
}  // namespace civicpulse::core
