#include "civicpulse/core/area_cap.h"

#include <algorithm>
#include <cstdint>
#include <map>
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

// The kept names, sorted. `first_seen` (by name) gives each area's first event time; an
// area it does not name has 0 (not known).
std::vector<std::string> Kept(const AreaCapOptions& options, const std::vector<std::string>& in,
                              const std::map<std::string, int64_t>& first_seen = {}) {
  std::vector<int64_t> times;
  for (const std::string& a : in) {
    auto it = first_seen.find(a);
    times.push_back(it == first_seen.end() ? 0 : it->second);
  }
  const std::vector<bool> keep = SelectAreaLabels(options, in, times);
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

// Areas first seen in an order unrelated to their names: area-i at a time drawn at random.
std::map<std::string, int64_t> RandomFirstSeen(const std::vector<std::string>& areas,
                                               uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::string, int64_t> out;
  for (const std::string& a : areas) {
    out[a] = 1'700'000'000'000 + static_cast<int64_t>(rng() % 1'000'000'000);
  }
  return out;
}

TEST(SelectAreaLabelsTest, TheFirstSeenKeepTheirNames) {
  // Seen in the order W09, W03, W07, W01, ... (not the names' order); a cap of 3 keeps the
  // first three.
  const std::vector<std::string> areas = {"W01", "W03", "W05", "W07", "W09"};
  const std::map<std::string, int64_t> first = {
      {"W09", 1000}, {"W03", 2000}, {"W07", 3000}, {"W01", 4000}, {"W05", 5000}};
  EXPECT_EQ(Kept({.max_areas = 3}, areas, first), (std::vector<std::string>{"W03", "W07", "W09"}));
  EXPECT_EQ(Kept({.max_areas = 1}, areas, first), std::vector<std::string>{"W09"});
  // An area seen earlier than every labelled one (a backfill) takes the last one's label.
  std::map<std::string, int64_t> backfilled = first;
  backfilled["W05"] = 500;
  EXPECT_EQ(Kept({.max_areas = 3}, areas, backfilled),
            (std::vector<std::string>{"W03", "W05", "W09"}));
}

TEST(SelectAreaLabelsTest, TiesAndUnknownFirstSeenGoByName) {
  const std::vector<std::string> areas = {"b", "d", "a", "c", "e"};
  // "d" and "b" first seen at the same time; "a", "c" and "e" not known: after them.
  EXPECT_EQ(Kept({.max_areas = 1}, areas, {{"d", 7}, {"b", 7}}), std::vector<std::string>{"b"});
  EXPECT_EQ(Kept({.max_areas = 3}, areas, {{"d", 7}, {"b", 7}}),
            (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_EQ(Kept({.max_areas = 2}, areas), (std::vector<std::string>{"a", "b"}));
}

TEST(SelectAreaLabelsTest, SameAnswerWhateverTheOrder) {
  std::vector<std::string> areas = Names(2000);
  const std::map<std::string, int64_t> first = RandomFirstSeen(areas, 3);
  const AreaCapOptions options{.max_areas = 100};
  const std::vector<std::string> want = Kept(options, areas, first);
  ASSERT_EQ(want.size(), 100u);
  std::mt19937_64 rng(1);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(areas.begin(), areas.end(), rng);
    EXPECT_EQ(Kept(options, areas, first), want);
  }
}

// Two processes that hold different subsets never disagree about an area both hold and the
// full set keeps: such an area is kept by every subset that holds it (fewer areas can only
// have fewer seen before it). And an area the full set folds may be kept by a small subset,
// which is why the exporter, which holds the union, decides.
TEST(SelectAreaLabelsTest, KeptInTheWholeSetMeansKeptInEverySubset) {
  const std::vector<std::string> areas = Names(1000);
  const std::map<std::string, int64_t> first = RandomFirstSeen(areas, 4);
  const AreaCapOptions options{.max_areas = 50};
  const std::vector<std::string> whole = Kept(options, areas, first);
  std::mt19937_64 rng(2);
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> subset;
    for (const std::string& a : areas) {
      if (rng() % 3 == 0) subset.push_back(a);
    }
    const std::vector<std::string> kept = Kept(options, subset, first);
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

// The aggregator's per-partition cap: same log, same labels, whoever runs it.
TEST(AreaCapTest, SameLogSameLabels) {
  const std::vector<std::string> log = {"B", "A", "C", "A", "D", "B", "E"};
  AreaCap one({.max_areas = 3}), two({.max_areas = 3});
  for (const std::string& a : log) EXPECT_EQ(one.Fold(a), two.Fold(a)) << a;
  EXPECT_EQ(one.Fold("D"), kOtherArea);
}

}  // namespace
}  // namespace civicpulse::core
