#include "civicpulse/core/areas.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
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

TEST(AreaNameTest, ShortAndPlain) {
  EXPECT_TRUE(IsValidAreaName("W05"));
  EXPECT_TRUE(IsValidAreaName("E05000026"));
  EXPECT_TRUE(IsValidAreaName("Hackney Central"));
  EXPECT_TRUE(IsValidAreaName("N1/2"));
  EXPECT_TRUE(IsValidAreaName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidAreaName(std::string(65, 'a')));
  EXPECT_FALSE(IsValidAreaName(std::string(300, 'a')));  // the 300 characters
  EXPECT_FALSE(IsValidAreaName(""));
  EXPECT_FALSE(IsValidAreaName("alice@example.org"));  // a swapped CSV column
  EXPECT_FALSE(IsValidAreaName("a\"b"));
  EXPECT_FALSE(IsValidAreaName("a\nb"));
  EXPECT_FALSE(IsValidAreaName(" W05"));
  EXPECT_FALSE(IsValidAreaName("W  05"));
  EXPECT_FALSE(IsValidAreaName("all"));
  EXPECT_FALSE(IsValidAreaName("other"));
  EXPECT_FALSE(IsValidAreaName("W\xC3\xA9"));
}

TEST(AreaListTest, RejectsInvalidNames) {
  EXPECT_FALSE(ParseAreaList("bob@example.org,1\n", "a").ok());
  EXPECT_FALSE(ParseAreaList(std::string(65, 'x') + ",1\n", "a").ok());
}

TEST(AreaListTest, ResidentsOf) {
  auto list = ParseAreaList("W01,10\nW02\n", "a");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->ResidentsOf("W01"), 10.0);
  EXPECT_EQ(list->ResidentsOf("W02"), std::nullopt);
}

}  // namespace
}  // namespace civicpulse::core
