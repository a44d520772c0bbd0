#include "civicpulse/core/participant_sketch.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "civicpulse/v1/aggregate.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

uint64_t H(int i) { return HashParticipant("p-" + std::to_string(i)); }

TEST(HashParticipantTest, IsStableAcrossReleases) {
  // Merged sketches from different processes rely on these exact values.
  EXPECT_EQ(HashParticipant(""), HashParticipant(std::string_view()));
  EXPECT_EQ(HashParticipant("p-81"), HashParticipant(std::string("p-81")));
  EXPECT_NE(HashParticipant("p-81"), HashParticipant("p-18"));
  EXPECT_NE(HashParticipant("abcdefgh1"), HashParticipant("abcdefgh2"));
  EXPECT_EQ(HashParticipant("p-81"), 0x7477bbe8af89858eULL) << std::hex << HashParticipant("p-81");
}

TEST(ParticipantSketchTest, EmptySketch) {
  ParticipantSketch s;
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.exact());
  EXPECT_EQ(s.Estimate(), 0);
  EXPECT_EQ(s.TopDecileShare(), 0);
  EXPECT_EQ(s.total_events(), 0u);
}

TEST(ParticipantSketchTest, ExactBelowLimit) {
  ParticipantSketch s;
  for (int i = 0; i < 1999; ++i) s.Add(H(i % 1000));
  EXPECT_TRUE(s.exact());
  EXPECT_EQ(s.Estimate(), 1000);
  EXPECT_EQ(s.total_events(), 1999u);
}

TEST(ParticipantSketchTest, TopDecileShareIsExactInExactMode) {
  ParticipantSketch s;
  // 20 people: two with 10 events each, 18 with one. Top ceil(20/10)=2 -> 20 of 38.
  s.Add(H(0), 10);
  s.Add(H(1), 10);
  for (int i = 2; i < 20; ++i) s.Add(H(i));
  EXPECT_DOUBLE_EQ(s.TopDecileShare(), 20.0 / 38.0);
  // 3 people: ceil(3/10) = 1 -> the most active one.
  ParticipantSketch t;
  t.Add(H(0), 5);
  t.Add(H(1), 3);
  t.Add(H(2), 2);
  EXPECT_DOUBLE_EQ(t.TopDecileShare(), 0.5);
}

TEST(ParticipantSketchTest, MergeIsAUnion) {
  ParticipantSketch a, b;
  for (int i = 0; i < 600; ++i) a.Add(H(i));
  for (int i = 300; i < 900; ++i) b.Add(H(i));
  a.Merge(b);
  EXPECT_EQ(a.Estimate(), 900);
  EXPECT_EQ(a.total_events(), 1200u);
  // Person 300..599 have two events each.
  ParticipantSketch self = a;
  self.Merge(self);
  EXPECT_EQ(self.Estimate(), 900);
  EXPECT_EQ(self.total_events(), 2400u);
}

class DenseAccuracyTest : public ::testing::TestWithParam<int> {};

TEST_P(DenseAccuracyTest, WithinTwoPercent) {
  const int n = GetParam();
  ParticipantSketch s;
  for (int i = 0; i < n; ++i) s.Add(H(i));
  EXPECT_FALSE(s.exact());
  EXPECT_NEAR(s.Estimate(), n, 0.02 * n);
}

INSTANTIATE_TEST_SUITE_P(Sizes, DenseAccuracyTest,
                         ::testing::Values(2049, 3000, 5000, 10000, 30000, 100000, 300000,
                                           1000000));

TEST(ParticipantSketchTest, MergedDenseSketchesCountSharedPeopleOnce) {
  ParticipantSketch a, b;
  for (int i = 0; i < 60000; ++i) a.Add(H(i));
  for (int i = 40000; i < 100000; ++i) b.Add(H(i));
  ParticipantSketch exact_small;
  for (int i = 99000; i < 99500; ++i) exact_small.Add(H(i));
  a.Merge(b);
  a.Merge(exact_small);
  EXPECT_NEAR(a.Estimate(), 100000, 2000);
  // Exact into dense and dense into exact give the same answer.
  ParticipantSketch c = exact_small;
  c.Merge(b);
  ParticipantSketch d = b;
  d.Merge(exact_small);
  EXPECT_EQ(c.Estimate(), d.Estimate());
}

TEST(ParticipantSketchTest, TopDecileShareApproximatedInDenseMode) {
  // Skewed activity: 10% of 50,000 people do 10 events each, the rest one each.
  ParticipantSketch s, a, b;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50000; ++i) {
    const uint32_t events = i % 10 == 0 ? 10 : 1;
    s.Add(H(i), events);
    (rng() % 2 ? a : b).Add(H(i), events);
  }
  const double truth = 50000.0 / (50000.0 + 45000.0);
  EXPECT_NEAR(s.TopDecileShare(), truth, 0.03);
  a.Merge(b);
  EXPECT_NEAR(a.TopDecileShare(), truth, 0.03);
  EXPECT_EQ(a.total_events(), 95000u);
}

TEST(ParticipantSketchTest, ProtoRoundTripExactAndDense) {
  for (int n : {0, 10, 2048, 2049, 50000}) {
    ParticipantSketch s;
    for (int i = 0; i < n; ++i) s.Add(H(i), 1 + i % 3);
    v1::ParticipantSketch proto;
    s.ToProto(&proto);
    ParticipantSketch back;
    ASSERT_TRUE(back.FromProto(proto).ok()) << n;
    EXPECT_EQ(back.Estimate(), s.Estimate()) << n;
    EXPECT_EQ(back.total_events(), s.total_events()) << n;
    EXPECT_DOUBLE_EQ(back.TopDecileShare(), s.TopDecileShare()) << n;
    // Merging the decoded copy into a fresh sketch of other people still works.
    ParticipantSketch other;
    for (int i = n; i < n + 100; ++i) other.Add(H(i));
    back.Merge(other);
    EXPECT_NEAR(back.Estimate(), n + 100, 0.02 * (n + 100)) << n;
  }
}

TEST(ParticipantSketchTest, FromProtoRejectsMalformed) {
  ParticipantSketch s;
  v1::ParticipantSketch bad;
  bad.add_hashes(1);
  EXPECT_FALSE(s.FromProto(bad).ok());
  v1::ParticipantSketch wrong_precision;
  wrong_precision.set_precision(12);
  wrong_precision.set_registers(std::string(4096, '\0'));
  EXPECT_FALSE(s.FromProto(wrong_precision).ok());
  v1::ParticipantSketch bad_register;
  bad_register.set_precision(14);
  bad_register.set_registers(std::string(16384, '\x7f'));
  EXPECT_FALSE(s.FromProto(bad_register).ok());
}

TEST(ParticipantSketchTest, DenseMemoryIsBounded) {
  ParticipantSketch s;
  for (int i = 0; i < 200000; ++i) s.Add(H(i));
  EXPECT_LT(s.MemoryBytes(), 256u * 1024);
}

// The bottom-k sample of a dense sketch holds the k smallest hashes seen with their exact
// counts, read at any moment (participants added below the threshold are settled into it
// in batches, and a const read must see them before that), through self-unions and merges
// of a sketch with some pending.
TEST(ParticipantSketchTest, DenseSampleIsTheSmallestHashesWithTheirCounts) {
  auto expect_sample = [](const ParticipantSketch& s, const std::map<uint64_t, uint64_t>& ref,
                          const std::string& where) {
    v1::ParticipantSketch wire;
    s.ToProto(&wire);
    const bool dense = !wire.registers().empty();
    const auto& hashes = dense ? wire.heavy_hashes() : wire.hashes();
    const auto& counts = dense ? wire.heavy_counts() : wire.counts();
    std::vector<std::pair<uint64_t, uint64_t>> want(ref.begin(), ref.end());
    if (want.size() > ParticipantSketch::kExactLimit) want.resize(ParticipantSketch::kExactLimit);
    std::vector<std::pair<uint64_t, uint64_t>> got;
    for (int i = 0; i < hashes.size(); ++i) got.emplace_back(hashes[i], counts[i]);
    ASSERT_EQ(got, want) << where;
    // TopDecileShare reads the same sample.
    std::vector<uint64_t> by_count;
    uint64_t sum = 0;
    for (const auto& [hash, count] : want) {
      by_count.push_back(count);
      sum += count;
    }
    std::sort(by_count.rbegin(), by_count.rend());
    uint64_t top = 0;
    for (size_t i = 0; i < (by_count.size() + 9) / 10; ++i) top += by_count[i];
    EXPECT_DOUBLE_EQ(s.TopDecileShare(), static_cast<double>(top) / static_cast<double>(sum))
        << where;
  };
  for (int seed = 0; seed < 4; ++seed) {
    std::mt19937_64 rng(seed);
    ParticipantSketch s;
    std::map<uint64_t, uint64_t> ref;
    int reads = 0;
    for (int i = 0; i < 40000; ++i) {
      const uint64_t hash = H(static_cast<int>(rng() % 20000));
      const uint32_t events = 1 + static_cast<uint32_t>(rng() % 3);
      s.Add(hash, events);
      ref[hash] += events;
      const std::string where = "seed " + std::to_string(seed) + " add " + std::to_string(i);
      if (rng() % 701 == 0) {
        ++reads;
        expect_sample(s, ref, where);
      }
      if (rng() % 9001 == 0) {
        s.Merge(s);
        for (auto& [hash, count] : ref) count *= 2;
        expect_sample(s, ref, where + " self-union");
      }
      if (rng() % 3001 == 0) {
        ParticipantSketch other;
        other.Add(H(20000 + i));
        other.Merge(s);
        std::map<uint64_t, uint64_t> both = ref;
        both[H(20000 + i)] += 1;
        expect_sample(other, both, where + " merged into another");
        ParticipantSketch copy = s;
        expect_sample(copy, ref, where + " copy");
      }
    }
    EXPECT_FALSE(s.exact());
    EXPECT_GT(reads, 20);
    expect_sample(s, ref, "seed " + std::to_string(seed) + " end");
  }
}

// A dense sketch keeps its registers' histogram as they rise (the estimate reads only that):
// however the registers got their values (adds, increments merged in, a dense merge, the
// wire), the estimate is the one the registers give when read from scratch (the wire).
TEST(ParticipantSketchTest, EstimateIsTheRegistersEstimateHoweverTheyWereBuilt) {
  auto from_wire = [](const ParticipantSketch& s) {
    v1::ParticipantSketch wire;
    s.ToProto(&wire);
    ParticipantSketch read;
    EXPECT_TRUE(read.FromProto(wire).ok());
    return read.Estimate();
  };
  ParticipantSketch added, halves_a, halves_b, increments;
  ParticipantSketch increment;
  for (int i = 0; i < 30000; ++i) {
    const uint64_t hash = H(i % 17000);
    added.Add(hash);
    (i % 2 == 0 ? halves_a : halves_b).Add(hash);
    increment.Add(hash);
    if (i % 50 == 49) {
      increments.Merge(increment);
      increment = ParticipantSketch();
    }
    if (i % 1999 == 0 && !added.exact()) {
      ASSERT_EQ(added.Estimate(), from_wire(added)) << "after " << i << " adds";
      ASSERT_EQ(increments.Estimate(), from_wire(increments)) << "after " << i << " adds";
    }
  }
  ParticipantSketch merged = halves_a;
  merged.Merge(halves_b);
  ASSERT_FALSE(added.exact());
  EXPECT_EQ(added.Estimate(), from_wire(added));
  EXPECT_EQ(merged.Estimate(), from_wire(merged));
  EXPECT_EQ(merged.Estimate(), added.Estimate());  // the same registers
  EXPECT_EQ(ParticipantSketch::UnionEstimate({&halves_a, &halves_b}), added.Estimate());
  EXPECT_NEAR(added.Estimate(), 17000, 17000 * 0.03);
}

TEST(ParticipantSketchTest, UnionEstimateEqualsTheMergedEstimate) {
  // Small (exact: at most kExactLimit held in all); more held than that but exact (500:
  // 1,750 people), just past the limit with fewer registers set than it (600: 2,100 people),
  // far past it (1000); and with dense parts.
  for (const int per_part : {10, 300, 500, 600, 1000, 5000}) {
    std::vector<ParticipantSketch> parts(6);
    for (size_t p = 0; p < parts.size(); ++p) {
      for (int i = 0; i < per_part; ++i) {
        // Overlapping: part p holds participants p * per_part / 2 ... + per_part.
        parts[p].Add(HashParticipant("p-" + std::to_string(p * per_part / 2 + i)));
      }
    }
    ParticipantSketch merged;
    std::vector<const ParticipantSketch*> pointers;
    for (const ParticipantSketch& part : parts) {
      merged.Merge(part);
      pointers.push_back(&part);
    }
    EXPECT_DOUBLE_EQ(ParticipantSketch::UnionEstimate(pointers), merged.Estimate()) << per_part;
  }
  EXPECT_EQ(ParticipantSketch::UnionEstimate({}), 0);
}

// The exact forms (one participant inline, the sorted array, the hash map) against a plain
// std::map, across every boundary between them: counts, totals, top decile, wire bytes.
using Reference = std::map<uint64_t, uint32_t>;

void ExpectMatches(const ParticipantSketch& s, const Reference& ref, uint64_t total,
                   const std::string& where) {
  ASSERT_TRUE(s.exact()) << where;
  EXPECT_EQ(s.Estimate(), static_cast<double>(ref.size())) << where;
  EXPECT_EQ(s.total_events(), total) << where;
  EXPECT_EQ(s.empty(), ref.empty() && total == 0) << where;
  v1::ParticipantSketch proto;
  s.ToProto(&proto);
  ASSERT_EQ(proto.hashes_size(), static_cast<int>(ref.size())) << where;
  int i = 0;
  std::vector<uint32_t> counts;
  for (const auto& [hash, count] : ref) {
    EXPECT_EQ(proto.hashes(i), hash) << where << " entry " << i;
    EXPECT_EQ(proto.counts(i), count) << where << " entry " << i;
    counts.push_back(count);
    ++i;
  }
  std::sort(counts.begin(), counts.end(), std::greater<uint32_t>());
  uint64_t top = 0;
  for (size_t k = 0; k < (counts.size() + 9) / 10; ++k) top += counts[k];
  EXPECT_DOUBLE_EQ(s.TopDecileShare(),
                   total == 0 ? 0.0 : static_cast<double>(top) / static_cast<double>(total))
      << where;
}

TEST(ParticipantSketchExactFormsTest, AddMatchesAReferenceMapAcrossEveryForm) {
  std::mt19937_64 rng(11);
  for (const size_t people : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{60},
                              ParticipantSketch::kArrayLimit, ParticipantSketch::kArrayLimit + 1,
                              size_t{700}, ParticipantSketch::kExactLimit}) {
    ParticipantSketch s;
    Reference ref;
    uint64_t total = 0;
    // Random order, repeats and counts (including 0), so inserts land at every position.
    for (size_t i = 0; i < 3 * people; ++i) {
      const uint64_t hash = H(static_cast<int>(rng() % people));
      const uint32_t events = static_cast<uint32_t>(rng() % 4);
      s.Add(hash, events);
      ref[hash] += events;
      total += events;
      if (i < 40 || i % 97 == 0) {
        ExpectMatches(s, ref, total, "people " + std::to_string(people) + " step " +
                                         std::to_string(i));
      }
    }
    ExpectMatches(s, ref, total, "people " + std::to_string(people));
    // Copies, moves and a round trip through the wire keep every form.
    ParticipantSketch copy = s;
    ExpectMatches(copy, ref, total, "copy " + std::to_string(people));
    ParticipantSketch moved = std::move(copy);
    ExpectMatches(moved, ref, total, "moved " + std::to_string(people));
    v1::ParticipantSketch proto;
    s.ToProto(&proto);
    ParticipantSketch back;
    back.Add(H(-1));  // FromProto replaces whatever was held
    ASSERT_TRUE(back.FromProto(proto).ok());
    ExpectMatches(back, ref, total, "decoded " + std::to_string(people));
    ParticipantSketch assigned;
    for (int i = 0; i < 300; ++i) assigned.Add(H(-2 - i));
    assigned = s;
    ExpectMatches(assigned, ref, total, "assigned " + std::to_string(people));
  }
}

TEST(ParticipantSketchExactFormsTest, MergeOfEveryPairOfFormsMatchesAReferenceMap) {
  const std::vector<int> sizes = {0, 1, 2, 5, static_cast<int>(ParticipantSketch::kArrayLimit),
                                  static_cast<int>(ParticipantSketch::kArrayLimit) + 3, 900};
  for (int a_size : sizes) {
    for (int b_size : sizes) {
      ParticipantSketch a, b;
      Reference ref;
      uint64_t total = 0;
      for (int i = 0; i < a_size; ++i) {  // people 0, 2, 4, ...: half shared with b
        a.Add(H(2 * i), 1 + i % 3);
        ref[H(2 * i)] += 1 + i % 3;
        total += 1 + i % 3;
      }
      for (int i = 0; i < b_size; ++i) {  // people 0, 1, 2, ...
        b.Add(H(i), 2);
        ref[H(i)] += 2;
        total += 2;
      }
      const std::string where = std::to_string(a_size) + " + " + std::to_string(b_size);
      ParticipantSketch merged = a;
      merged.Merge(b);
      ExpectMatches(merged, ref, total, where);
      ParticipantSketch other_way = b;
      other_way.Merge(a);
      ExpectMatches(other_way, ref, total, "reversed " + where);
      // Self-union doubles every count.
      Reference doubled = ref;
      for (auto& [hash, count] : doubled) count *= 2;
      merged.Merge(merged);
      ExpectMatches(merged, doubled, 2 * total, "self " + where);
    }
  }
}

TEST(ParticipantSketchExactFormsTest, TotalWithoutParticipantsSurvivesMergeAndWire) {
  // Unattributed totals (a decoded sketch may carry a total and nobody).
  v1::ParticipantSketch proto;
  proto.set_total_count(5);
  ParticipantSketch s;
  ASSERT_TRUE(s.FromProto(proto).ok());
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.Estimate(), 0);
  ParticipantSketch t;
  t.Add(H(1));
  t.Merge(s);
  EXPECT_EQ(t.total_events(), 6u);
  EXPECT_EQ(t.Estimate(), 1);
}

TEST(ParticipantSketchExactFormsTest, SmallFormsUseLittleMemory) {
  ParticipantSketch s;
  EXPECT_EQ(s.MemoryBytes(), sizeof(ParticipantSketch));
  s.Add(H(1), 3);
  EXPECT_EQ(s.MemoryBytes(), sizeof(ParticipantSketch));  // held in the object
  for (int i = 0; i < 30; ++i) s.Add(H(i));
  EXPECT_LE(s.MemoryBytes(), sizeof(ParticipantSketch) + 36 * 10);  // 10 bytes a person
}

TEST(ParticipantSketchExactFormsTest, CountsBeyondSixteenBitsAreKeptExactly) {
  // The array form keeps 16-bit counts; larger ones move the set to the hash map.
  for (const uint32_t big : {65535u, 65536u, 40000u, 100000u}) {
    ParticipantSketch s;
    Reference ref;
    uint64_t total = 0;
    auto add = [&](int person, uint32_t events) {
      s.Add(H(person), events);
      ref[H(person)] += events;
      total += events;
    };
    add(0, big);  // one participant, inline
    add(1, 1);    // into the array form (or the map)
    add(2, big);
    add(0, big);
    for (int i = 3; i < 10; ++i) add(i, i);
    ExpectMatches(s, ref, total, "big " + std::to_string(big));
    s.Merge(s);
    for (auto& [hash, count] : ref) count *= 2;
    ExpectMatches(s, ref, 2 * total, "doubled " + std::to_string(big));
    ParticipantSketch small;
    small.Add(H(50), 40000);
    small.Add(H(51), 1);
    small.Merge(small);  // 80000 no longer fits 16 bits
    ExpectMatches(small, {{H(50), 80000}, {H(51), 2}}, 80002, "self-merged small");
  }
}

// The wire keeps exact hashes sorted. Uniform hashes are sorted by buckets of their top bits;
// hashes that share them (crowded buckets, a few per bucket, or in runs) must come out sorted
// too, and in every size around the bucketing's thresholds.
TEST(ParticipantSketchExactFormsTest, WireIsSortedWhateverTheHashesLookLike) {
  std::mt19937_64 rng(7);
  const std::vector<std::pair<std::string, std::function<uint64_t(int)>>> shapes = {
      {"uniform", [&](int) { return rng(); }},
      {"one bucket", [&](int) { return (uint64_t{0xABCD} << 48) | (rng() >> 16); }},
      {"descending", [](int i) { return ~uint64_t{0} - static_cast<uint64_t>(i) * 977; }},
      {"below 2^40", [&](int) { return rng() >> 24; }},  // like a bottom-k sample's
      {"pairs", [&](int i) { return (rng() & ~uint64_t{0xFFFF}) | static_cast<uint64_t>(i); }},
  };
  for (const auto& [shape, draw] : shapes) {
    for (int people : {200, 255, 256, 257, 1000, 2048}) {
      ParticipantSketch s;
      Reference ref;
      uint64_t total = 0;
      for (int i = 0; i < people; ++i) {
        const uint64_t hash = draw(i);
        s.Add(hash, 1 + static_cast<uint32_t>(i % 3));
        ref[hash] += 1 + static_cast<uint32_t>(i % 3);
        total += 1 + static_cast<uint32_t>(i % 3);
      }
      ExpectMatches(s, ref, total, shape + " " + std::to_string(people));
    }
  }
}

// What a cell's increments rely on (v1::Cell.increment): a reader that merges, batch after
// batch, a sketch of only what the writer added in between ends up with exactly the writer's
// sketch, byte for byte, through every form: exact, across the turn to dense, and dense (the
// sample keeps exact counts because a participant in the union's bottom k is in every part's).
class IncrementMergeTest : public ::testing::TestWithParam<int> {};

TEST_P(IncrementMergeTest, MergingWhatWasAddedSinceEqualsAddingEverything) {
  std::mt19937_64 rng(GetParam());
  const int people = std::vector<int>{60, 2100, 9000}[GetParam() % 3];
  ParticipantSketch writer;
  ParticipantSketch reader;
  ParticipantSketch added;  // since the last batch
  int batches = 0;
  for (int i = 0; i < 12000; ++i) {
    const uint64_t hash = H(static_cast<int>(rng() % people));
    const uint32_t events = rng() % 8 == 0 ? 3 : 1;
    writer.Add(hash, events);
    added.Add(hash, events);
    if (rng() % 400 == 0 || i == 11999) {
      // Over the wire, as the logs carry it.
      v1::ParticipantSketch wire;
      added.ToProto(&wire);
      ParticipantSketch received;
      ASSERT_TRUE(received.FromProto(wire).ok());
      reader.Merge(received);
      added = ParticipantSketch();
      ++batches;
      v1::ParticipantSketch want, got;
      writer.ToProto(&want);
      reader.ToProto(&got);
      ASSERT_EQ(want.SerializeAsString(), got.SerializeAsString())
          << "after batch " << batches << " of " << people << " people";
    }
  }
  EXPECT_GT(batches, 10);
  EXPECT_EQ(writer.exact(), people <= static_cast<int>(ParticipantSketch::kExactLimit));
}

INSTANTIATE_TEST_SUITE_P(Seeds, IncrementMergeTest, ::testing::Range(0, 9));

}  // namespace
}  // namespace civicpulse::core
