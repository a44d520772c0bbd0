#include "civicpulse/core/area_cap.h"

#include <string>

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

}  // namespace
}  // namespace civicpulse::core
