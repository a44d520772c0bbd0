#include "civicpulse/core/area_cap.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

TEST(AreaCapTest, FirstNSeenKeepTheirNames) {
  AreaCap cap({.max_areas = 2});
  EXPECT_EQ(cap.Fold("W01"), "W01");
  EXPECT_EQ(cap.Fold("W02"), "W02");
  EXPECT_EQ(cap.Fold("W03"), kOtherArea);
  EXPECT_EQ(cap.Fold("W01"), "W01");
  EXPECT_EQ(cap.size(), 2u);
}

TEST(AreaCapTest, AllowListFoldsEverythingElse) {
  AreaCap cap({.allowed = {"W01", "W05"}, .max_areas = 500});
  EXPECT_EQ(cap.Fold("W05"), "W05");
  EXPECT_EQ(cap.Fold("W02"), kOtherArea);
  EXPECT_EQ(cap.size(), 2u);
}

TEST(AreaCapTest, ReservedLabelsFold) {
  AreaCap cap({.max_areas = 10});
  EXPECT_EQ(cap.Fold("all"), kOtherArea);
  EXPECT_EQ(cap.Fold("other"), kOtherArea);
  EXPECT_EQ(cap.size(), 0u);
}

TEST(AreaCapTest, HundredThousandAreasStayBounded) {
  AreaCap cap({.max_areas = 500});
  std::string_view first = cap.Fold("area-0");
  for (int i = 1; i < 100000; ++i) cap.Fold("area-" + std::to_string(i));
  EXPECT_EQ(cap.size(), 500u);
  EXPECT_EQ(first, "area-0");  // views stay valid as the set grows
  EXPECT_EQ(cap.Fold("area-99999"), kOtherArea);
}

// The exporter's rule (SelectAreaLabels) ------------------------------------------------

std::vector<std::string> Names(int n, const char* prefix = "area-") {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

// The kept names, sorted.
std::vector<std::string> Kept(const AreaCapOptions& options, const std::vector<std::string>& in) {
  const std::vector<bool> keep = SelectAreaLabels(options, in);
  std::vector<std::string> out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (keep[i]) out.push_back(in[i]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SelectAreaLabelsTest, EveryAreaKeepsItsNameUpToTheCap) {
  const std::vector<std::string> areas = Names(30);
  EXPECT_EQ(Kept({.max_areas = 30}, areas).size(), 30u);
  EXPECT_EQ(Kept({.max_areas = 500}, areas).size(), 30u);
  EXPECT_EQ(Kept({.max_areas = 29}, areas).size(), 29u);
}

TEST(SelectAreaLabelsTest, SameAnswerWhateverTheOrder) {
  std::vector<std::string> areas = Names(2000);
  const AreaCapOptions options{.max_areas = 100};
  const std::vector<std::string> want = Kept(options, areas);
  ASSERT_EQ(want.size(), 100u);
  std::mt19937_64 rng(1);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(areas.begin(), areas.end(), rng);
    EXPECT_EQ(Kept(options, areas), want);
  }
}

// Two processes that hold different subsets never disagree about an area both hold and the
// full set keeps: such an area is kept by every subset that holds it (fewer names can only
// have fewer smaller hashes). And an area the full set folds may be kept by a small subset,
// which is why the exporter, which holds the union, decides.
TEST(SelectAreaLabelsTest, KeptInTheWholeSetMeansKeptInEverySubset) {
  const std::vector<std::string> areas = Names(1000);
  const AreaCapOptions options{.max_areas = 50};
  const std::vector<std::string> whole = Kept(options, areas);
  std::mt19937_64 rng(2);
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> subset;
    for (const std::string& a : areas) {
      if (rng() % 3 == 0) subset.push_back(a);
    }
    const std::vector<std::string> kept = Kept(options, subset);
    EXPECT_EQ(kept.size(), 50u);
    for (const std::string& a : whole) {
      if (std::find(subset.begin(), subset.end(), a) == subset.end()) continue;
      EXPECT_TRUE(std::binary_search(kept.begin(), kept.end(), a)) << a;
    }
  }
}

TEST(SelectAreaLabelsTest, BoundedWhateverTheInput) {
  for (size_t cap : {1u, 7u, 500u}) {
    EXPECT_EQ(Kept({.max_areas = cap}, Names(20000)).size(), cap);
  }
}

TEST(SelectAreaLabelsTest, AllowListKeepsListedAreasOnly) {
  const AreaCapOptions options{.allowed = {"W01", "W02", "W03"}, .max_areas = 1};
  EXPECT_EQ(Kept(options, {"W03", "X", "W01", "other", "all"}),
            (std::vector<std::string>{"W01", "W03"}));
}

TEST(SelectAreaLabelsTest, ReservedValuesNeverKeepTheirName) {
  EXPECT_EQ(Kept({.max_areas = 10}, {"other", "all", "W01"}), std::vector<std::string>{"W01"});
}

// The hash is part of the contract (the same areas keep their names release after release):
// pinned.
TEST(SelectAreaLabelsTest, StableAreaHashIsPinned) {
  // FNV-1a 64 then splitmix64's finaliser, computed independently (Python).
  EXPECT_EQ(StableAreaHash(""), 0xf52a15e9a9b5e89bULL);
  EXPECT_EQ(StableAreaHash("W01"), 0x84b6a5e61d025a7eULL);
  EXPECT_NE(StableAreaHash("W01"), StableAreaHash("W02"));
}

// The aggregator's per-partition cap: same log, same labels, whoever runs it.
TEST(AreaCapTest, SameLogSameLabels) {
  const std::vector<std::string> log = {"B", "A", "C", "A", "D", "B", "E"};
  AreaCap one({.max_areas = 3}), two({.max_areas = 3});
  for (const std::string& a : log) EXPECT_EQ(one.Fold(a), two.Fold(a)) << a;
  EXPECT_EQ(one.Fold("D"), kOtherArea);
}

}  // namespace
}  // namespace civicpulse::core
