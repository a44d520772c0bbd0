#include "config.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "civicpulse/runtime/flags_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::exporter {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Parses `args` (after the program name) into a fresh config.
absl::Status Parse(std::vector<std::string> args, ExporterConfig* config) {
  return runtime::ParseFlagsForTest("civicpulse-exporter", std::move(args), config);
}

TEST(ExporterConfigTest, Defaults) {
  ExporterConfig config;
  ASSERT_TRUE(Parse({"--brokers", "b:1"}, &config).ok());
  EXPECT_EQ(config.common.listen, "0.0.0.0:9400");
  EXPECT_EQ(config.aggregates_topic, "civicpulse.aggregates.v1");
  EXPECT_EQ(config.merge_every, absl::Seconds(1));
  EXPECT_EQ(config.merge_at_most_every, absl::Milliseconds(100));
  EXPECT_EQ(config.indicators.areas.max_areas, 500u);
  EXPECT_TRUE(config.indicators.areas.allowed.empty());
  EXPECT_TRUE(config.indicators.residents.empty());
  EXPECT_EQ(config.indicators.baseline.weeks, 8);
  EXPECT_EQ(config.indicators.baseline.min_weeks, 3);
  EXPECT_TRUE(config.indicators.baseline.holidays.empty());
}

TEST(ExporterConfigTest, BaselineFlagsAndHolidays) {
  const std::string path = ::testing::TempDir() + "/exporter_config_test_holidays.txt";
  {
    std::ofstream out(path);
    out << "# bank holidays\n2026-12-25\n2026-12-28\n";
  }
  ExporterConfig config;
  absl::Status s = Parse({"--brokers", "b:1", "--baseline-weeks", "6", "--baseline-min-weeks",
                          "4", "--holidays", "2026-12-24,2026-12-25", "--holidays-file", path},
                         &config);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(config.indicators.baseline.weeks, 6);
  EXPECT_EQ(config.indicators.baseline.min_weeks, 4);
  // 2026-12-24, -25 (once) and -28, as UTC day starts.
  EXPECT_THAT(config.indicators.baseline.holidays,
              ElementsAre(1'798'070'400'000, 1'798'156'800'000, 1'798'416'000'000));
  std::remove(path.c_str());
}

TEST(ExporterConfigTest, AreasFileGivesAllowListAndResidents) {
  const std::string path = ::testing::TempDir() + "/exporter_config_test_areas.csv";
  {
    std::ofstream out(path);
    out << "W01,1000\nW02,\nW03,250\n";
  }
  ExporterConfig config;
  absl::Status s = Parse({"--brokers", "b:1", "--areas-file", path, "--merge-interval",
                          "250ms", "--max-areas", "2"},
                         &config);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(config.indicators.areas.allowed, ElementsAre("W01", "W02", "W03"));
  EXPECT_THAT(config.indicators.residents, ElementsAre(Pair("W01", 1000.0), Pair("W03", 250.0)));
  EXPECT_EQ(config.merge_every, absl::Milliseconds(250));
  EXPECT_EQ(config.merge_at_most_every, absl::Milliseconds(100));
  std::remove(path.c_str());
}

TEST(ExporterConfigTest, MinMergeIntervalIsAtMostTheMergeInterval) {
  ExporterConfig config;
  ASSERT_TRUE(Parse({"--brokers", "b:1", "--merge-interval", "50ms"}, &config).ok());
  EXPECT_EQ(config.merge_at_most_every, absl::Milliseconds(50));
  ASSERT_TRUE(Parse({"--brokers", "b:1", "--min-merge-interval", "0s"}, &config).ok());
  EXPECT_EQ(config.merge_at_most_every, absl::ZeroDuration());
}

TEST(ExporterConfigTest, RejectsBadValues) {
  for (const auto& [flag, value, message] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--merge-interval", "often", "is not a duration"},
           {"--merge-interval", "0s", "between 10ms and 10m"},
           {"--min-merge-interval", "soon", "is not a duration"},
           {"--min-merge-interval", "-1s", "must not be negative"},
           {"--max-areas", "0", "--max-areas"},
           {"--areas-file", "/nonexistent.csv", "cannot read areas file"},
           {"--baseline-weeks", "9", "--baseline-weeks must be 1..8"},
           {"--baseline-min-weeks", "9", "--baseline-min-weeks"},
           {"--holidays", "2026-02-30", "--holidays:1"},
           {"--holidays-file", "/nonexistent.txt", "cannot read /nonexistent.txt"}}) {
    ExporterConfig config;
    absl::Status s = Parse({"--brokers", "b:1", flag, value}, &config);
    EXPECT_FALSE(s.ok()) << flag;
    EXPECT_THAT(std::string(s.message()), HasSubstr(message));
  }
}

TEST(ExporterConfigTest, BrokersAreRequired) {
  ExporterConfig config;
  unsetenv("CIVICPULSE_BROKERS");
  EXPECT_THAT(std::string(Parse({}, &config).message()), HasSubstr("no Kafka brokers"));
}

}  // namespace
}  // namespace civicpulse::exporter
