#include "civicpulse/aggregator/areas_file.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::aggregator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(AreaListTest, ParsesHeaderCommentsBlankLinesAndMissingResidents) {
  auto list = ParseAreaList(
      "area,residents\n# wards of the city\nW01,12000\n\n W02 , 8500.5 \nW03,\nW04\n",
      "areas.csv");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(list->areas, ElementsAre("W01", "W02", "W03", "W04"));
  EXPECT_THAT(list->residents, ElementsAre(Pair("W01", 12000.0), Pair("W02", 8500.5)));
}

TEST(AreaListTest, AcceptsCrLfAndNoTrailingNewline) {
  auto list = ParseAreaList("W01,10\r\nW02,20", "a");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(list->areas, ElementsAre("W01", "W02"));
}

TEST(AreaListTest, EmptyInputIsAnEmptyList) {
  auto list = ParseAreaList("", "a");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->areas.empty());
}

TEST(AreaListTest, RejectsBadLinesNamingTheLine) {
  EXPECT_THAT(ParseAreaList("W01,10\nW01,20\n", "areas.csv").status().message(),
              HasSubstr("areas.csv:2: area \"W01\" listed twice"));
  EXPECT_THAT(ParseAreaList("W01,many\n", "a").status().message(), HasSubstr("a:1:"));
  EXPECT_FALSE(ParseAreaList("W01,-3\n", "a").ok());
  EXPECT_FALSE(ParseAreaList("W01,nan\n", "a").ok());
  EXPECT_FALSE(ParseAreaList("W01,1,2\n", "a").ok());
  EXPECT_FALSE(ParseAreaList(",5\n", "a").ok());
  EXPECT_FALSE(ParseAreaList("other,5\n", "a").ok());
  EXPECT_FALSE(ParseAreaList("all,5\n", "a").ok());
}

TEST(AreaListTest, HeaderOnlyOnFirstLine) {
  // "area" later in the file is an ordinary (if odd) area name.
  auto list = ParseAreaList("W01,1\narea,residents\n", "a");
  EXPECT_FALSE(list.ok());  // "residents" is not a number
}

TEST(AreaListTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadAreaList("/nonexistent/areas.csv").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace civicpulse::aggregator
