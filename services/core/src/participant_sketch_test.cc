#include "civicpulse/core/participant_sketch.h"

#include <cmath>
#include <random>
#include <string>

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

TEST(ParticipantSketchTest, UnionEstimateEqualsTheMergedEstimate) {
  // Small (exact), crossing the exact limit, and with dense parts.
  for (const int per_part : {10, 300, 5000}) {
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

}  // namespace
}  // namespace civicpulse::core
