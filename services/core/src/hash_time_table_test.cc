#include "civicpulse/core/hash_time_table.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

using Reference = std::unordered_map<uint64_t, int64_t>;

// The bits of a key a table holds (and ForEach hands out): the low 56.
constexpr uint64_t kHeldBits = (uint64_t{1} << 56) - 1;

void ExpectSame(const HashTimeTable& table, const Reference& ref) {
  ASSERT_EQ(table.size(), ref.size());
  for (const auto& [key, value] : ref) {
    const std::optional<int64_t> found = table.Find(key);
    ASSERT_TRUE(found.has_value()) << key;
    EXPECT_EQ(*found, value) << key;
  }
  size_t visited = 0;
  table.ForEach([&](uint64_t key, int64_t value) {
    ++visited;
    auto it = ref.find(key);
    ASSERT_NE(it, ref.end()) << key;
    EXPECT_EQ(it->second, value);
  });
  EXPECT_EQ(visited, ref.size());
}

TEST(HashTimeTableTest, InsertFindAndKeyZero) {
  HashTimeTable t;
  EXPECT_EQ(t.Find(5), std::nullopt);
  EXPECT_EQ(t.Find(0), std::nullopt);
  auto [value, inserted] = t.TryEmplace(5, 50);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(value.get(), 50);
  auto [again, inserted_again] = t.TryEmplace(5, 99);
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again.get(), 50);
  again.set(51);
  EXPECT_EQ(t.Find(5), 51);
  EXPECT_TRUE(t.TryEmplace(0, 7).second);  // 0 is a key like any other
  EXPECT_FALSE(t.TryEmplace(0, 8).second);
  EXPECT_EQ(t.Find(0), 7);
  EXPECT_EQ(t.size(), 2u);
  t.EraseIf([](uint64_t key, int64_t) { return key == 0; });
  EXPECT_EQ(t.Find(0), std::nullopt);
  EXPECT_EQ(t.size(), 1u);
}

// EraseBelow keeps the values at or above its limit (key 0's too). It walks only when some
// value may be below the limit: an insertion, or a value lowered through Value::set, makes
// it walk again.
TEST(HashTimeTableTest, EraseBelowErasesWhatIsOlderWhateverLoweredIt) {
  HashTimeTable t;
  for (uint64_t key = 0; key < 1000; ++key) t.TryEmplace(key, static_cast<int64_t>(key) * 10);
  t.EraseBelow(5000);
  EXPECT_EQ(t.size(), 500u);
  EXPECT_EQ(t.Find(499), std::nullopt);
  EXPECT_EQ(t.Find(500), 5000);
  t.TryEmplace(0, 7000);  // key 0 lives apart
  t.EraseBelow(6000);
  EXPECT_EQ(t.size(), 401u);
  EXPECT_EQ(t.Find(0), 7000);
  EXPECT_EQ(t.Find(599), std::nullopt);

  t.EraseBelow(6000);  // nothing below: no walk, nothing changes
  EXPECT_EQ(t.size(), 401u);
  t.TryEmplace(700, 0).first.set(200);  // lowered
  t.EraseBelow(6000);
  EXPECT_EQ(t.size(), 400u);
  EXPECT_EQ(t.Find(700), std::nullopt);
  t.TryEmplace(0, 0).first.set(300);
  t.EraseBelow(6000);
  EXPECT_EQ(t.size(), 399u);
  EXPECT_EQ(t.Find(0), std::nullopt);
  t.TryEmplace(5, 100);  // inserted below
  t.EraseBelow(6000);
  EXPECT_EQ(t.size(), 399u);
  EXPECT_EQ(t.Find(5), std::nullopt);

  t.EraseBelow(100'000);
  EXPECT_EQ(t.size(), 0u);
}

// A slot keeps the low 56 bits of its key: keys that differ only above them are one key,
// ForEach hands out those bits, and a key read back finds its entry.
TEST(HashTimeTableTest, KeysAreTheirLowFiftySixBits) {
  HashTimeTable t;
  const uint64_t key = 0xAB12'3456'789A'BCDEULL;
  EXPECT_TRUE(t.TryEmplace(key, 1).second);
  EXPECT_FALSE(t.TryEmplace(key ^ (uint64_t{0xFF} << 56), 2).second);
  EXPECT_TRUE(t.TryEmplace(key ^ (uint64_t{1} << 55), 3).second);
  std::vector<uint64_t> keys;
  t.ForEach([&keys](uint64_t k, int64_t) { keys.push_back(k); });
  EXPECT_THAT(keys, ::testing::UnorderedElementsAre(key & kHeldBits,
                                                    (key ^ (uint64_t{1} << 55)) & kHeldBits));
  for (uint64_t k : keys) EXPECT_TRUE(t.Find(k).has_value());
  EXPECT_EQ(t.Find(key), 1);
  // A key whose low 56 bits are zero is key 0.
  EXPECT_TRUE(t.TryEmplace(uint64_t{0x42} << 56, 9).second);
  EXPECT_EQ(t.Find(0), 9);
}

// Times are held in 40 bits above a floor that follows the largest time: every time within
// 30 years of the largest reads back exactly, from year 0000 to 9999 and at int64's ends;
// one further below reads as the floor (older still: what the owners' horizons need).
TEST(HashTimeTableTest, TimesReadBackExactlyWithinThirtyYearsOfTheNewest) {
  constexpr int64_t kYearMs = 365LL * 24 * 3600 * 1000;
  constexpr int64_t kYear0000 = -62'167'219'200'000;
  constexpr int64_t kYear9999 = 253'402'300'799'999;
  for (const int64_t base : {kYear0000, int64_t{0}, int64_t{1'700'000'000'123}, kYear9999,
                             std::numeric_limits<int64_t>::min() + 40 * kYearMs,
                             std::numeric_limits<int64_t>::max() - 5 * kYearMs}) {
    HashTimeTable t;
    Reference exact;
    std::mt19937_64 rng(static_cast<uint64_t>(base));
    uint64_t key = 1;
    // Times spread over the 30 years before base + 4 years, in random order (the first one
    // places the floor, a later larger one raises it), then the newest moved up by steps of
    // 1 to 4 years, raising the floor again.
    for (int i = 0; i < 2000; ++i) {
      const int64_t value = base - static_cast<int64_t>(rng() % (26 * kYearMs)) +
                            static_cast<int64_t>(rng() % (4 * kYearMs));
      t.TryEmplace(key * 0x9E3779B97F4A7C15ULL, value);
      exact[key * 0x9E3779B97F4A7C15ULL & kHeldBits] = value;
      ++key;
    }
    ExpectSame(t, exact);
    int64_t newest = base + 4 * kYearMs;
    for (int step = 0; step < 5; ++step) {
      if (newest > std::numeric_limits<int64_t>::max() - 5 * kYearMs) break;
      newest += kYearMs + static_cast<int64_t>(rng() % (3 * kYearMs));
      auto [value, inserted] = t.TryEmplace(key * 0x9E3779B97F4A7C15ULL, base);
      ASSERT_TRUE(inserted);
      value.set(newest);  // raised through a value: the same walk as an insertion's
      exact[key * 0x9E3779B97F4A7C15ULL & kHeldBits] = newest;
      ++key;
      t.ForEach([&](uint64_t k, int64_t v) {
        const int64_t want = exact.at(k);
        if (want >= newest - 30 * kYearMs) {
          ASSERT_EQ(v, want) << "newest " << newest;
        } else {  // held as the floor: at or after the true time, 30 or more years back
          ASSERT_GE(v, want);
          ASSERT_LE(v, newest - 30 * kYearMs);
        }
      });
    }
    // Lowering below the floor holds the floor; EraseBelow the floor + 1 then erases it.
    auto [low, inserted] = t.TryEmplace(0x77, newest);
    ASSERT_TRUE(inserted);
    low.set(std::numeric_limits<int64_t>::min());
    EXPECT_LE(*t.Find(0x77), newest - 30 * kYearMs);
    t.EraseBelow(*t.Find(0x77) + 1);
    EXPECT_EQ(t.Find(0x77), std::nullopt);
  }
}

// A floor that saturated at int64's minimum (a first time near it) moves up past zero in one
// walk: a difference of floors that does not fit an int64 (UBSan's build checks it).
TEST(HashTimeTableTest, FloorMovesFromInt64MinimumPastZero) {
  constexpr int64_t kNow = 1'700'000'000'123;
  HashTimeTable t;
  t.TryEmplace(1, std::numeric_limits<int64_t>::min() + 5);
  EXPECT_EQ(t.Find(1), std::numeric_limits<int64_t>::min() + 5);
  t.TryEmplace(2, kNow);
  EXPECT_EQ(t.Find(2), kNow);
  EXPECT_LT(*t.Find(1), kNow - (int64_t{30} * 365 * 24 * 3600 * 1000));
  t.EraseBelow(kNow);
  EXPECT_EQ(t.Find(1), std::nullopt);
  EXPECT_EQ(t.Find(2), kNow);
}

// Random inserts and bulk erasures against a reference map, in tables small enough that
// runs wrap around the end, with keys crowded onto few homes and spread out.
TEST(HashTimeTableTest, MatchesAReferenceMapThroughInsertsAndErasures) {
  for (const bool crowded : {false, true}) {
    for (const size_t max_size : {size_t{20}, size_t{100}, size_t{5000}}) {
      std::mt19937_64 rng(max_size + crowded);
      HashTimeTable t(max_size);
      Reference ref;
      for (int round = 0; round < 200; ++round) {
        while (ref.size() < max_size) {
          // Crowded keys differ only in their low bits: few distinct homes, long runs.
          // (Keys as a table holds them: 56 bits.)
          const uint64_t key = crowded ? rng() % (3 * max_size) : rng() >> 8;
          const int64_t value = static_cast<int64_t>(rng() % 1000);
          auto [stored, inserted] = t.TryEmplace(key, value);
          auto [it, ref_inserted] = ref.try_emplace(key, value);
          ASSERT_EQ(inserted, ref_inserted);
          ASSERT_EQ(stored.get(), it->second);
        }
        ASSERT_LE(t.capacity(), max_size + max_size / 4 + 16);
        const int64_t cutoff = static_cast<int64_t>(rng() % 1000);
        t.EraseIf([cutoff](uint64_t, int64_t value) { return value < cutoff; });
        std::erase_if(ref, [cutoff](const auto& entry) { return entry.second < cutoff; });
        ExpectSame(t, ref);
        if (round % 50 == 0) {  // erase an exact number of arbitrary entries
          size_t drop = t.size() / 3;
          t.EraseIf([&drop](uint64_t, int64_t) { return drop > 0 && drop-- > 0; });
          Reference kept;
          t.ForEach([&kept](uint64_t key, int64_t value) { kept[key] = value; });
          ASSERT_EQ(kept.size(), ref.size() - ref.size() / 3);
          for (const auto& [key, value] : kept) ASSERT_EQ(ref.at(key), value);
          ref = kept;
          ExpectSame(t, ref);
        }
      }
    }
  }
}

TEST(HashTimeTableTest, GrowsPastItsBoundIfTheOwnerKeepsMore) {
  HashTimeTable t(10);
  for (uint64_t k = 1; k <= 1000; ++k) t.TryEmplace(k * 0x9E3779B97F4A7C15ULL, 1);
  EXPECT_EQ(t.size(), 1000u);
  EXPECT_GE(t.capacity() * 4, t.size() * 5);
}

TEST(HashTimeTableTest, GrowsByHalfSoThatATableStaysMoreThanHalfFull) {
  HashTimeTable t;  // unbounded
  size_t grew = 0;
  for (uint64_t k = 1; k <= 300'000; ++k) {
    const size_t before = t.capacity();
    t.TryEmplace(k * 0x9E3779B97F4A7C15ULL, 1);
    if (t.capacity() == before) continue;
    ++grew;
    if (before >= 64) {  // past the first few: by half, and just when 80% full
      EXPECT_EQ(t.capacity(), before + before / 2);
      EXPECT_GT(t.size() * 5, before * 4);
    }
    // Just grown: the emptiest a growing table gets (but for its first 16 slots).
    if (before > 0) {
      EXPECT_GT(t.size() * 1000, t.capacity() * 533) << "at " << t.size() << " entries";
    }
  }
  EXPECT_GT(grew, 20u);  // 16 -> 300,000 / 0.8 by factors of 1.5
}

TEST(HashTimeTableTest, TwelveBytesASlotAtMostEightyPercentFull) {
  HashTimeTable t(2'000'000);
  for (uint64_t k = 1; k <= 2'000'000; ++k) t.TryEmplace(k * 0x9E3779B97F4A7C15ULL, 1);
  EXPECT_EQ(t.size(), 2'000'000u);
  EXPECT_LE(t.MemoryBytes(), 2'000'000 * 12 * 5 / 4 + 16 * 12);
}

// A restore fills a table in the order a snapshot listed another's entries (its slot order).
// With the same placement in both, those keys arrive sorted by where they land and linear
// probing piles them into one run that each insertion walks to its end: quadratic (300,000
// keys took 6.4 s). Each table's own salt keeps the probes to what random keys need.
TEST(HashTimeTableTest, FillingInAnotherTablesOrderProbesLittle) {
  std::mt19937_64 rng(3);
  HashTimeTable source;
  for (int i = 0; i < 200'000; ++i) source.TryEmplace(rng() | 1, i);
  const uint64_t random_probes = source.probes();
  HashTimeTable restored;
  Reference ref;
  source.ForEach([&](uint64_t key, int64_t value) {
    restored.TryEmplace(key, value);
    ref[key] = value;
  });
  ExpectSame(restored, ref);
  // About 3 slots per key for random keys through the same growth; piled up, thousands.
  EXPECT_LT(restored.probes(), 3 * random_probes + 200'000);
  EXPECT_LT(restored.probes(), 10u * 200'000);
}

}  // namespace
}  // namespace civicpulse::core
