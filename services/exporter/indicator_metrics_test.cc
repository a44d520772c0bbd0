#include "indicator_metrics.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace civicpulse::exporter {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One area with one kind counted, its union, the city's kind and the city.
core::Indicators Sample() {
  core::Indicators in;
  core::SeriesIndicators w01;
  w01.area = "W01";
  w01.kind = core::Kind::kWatchReport;
  w01.has_totals = true;
  w01.events = 12;
  w01.last_event_ms = 1'700'000'000'500;
  w01.active_participants = {3, 4, 5};
  w01.expected[0] = {.ready = true, .events = 10, .participants = 2};
  w01.participation_ratio[0] = 1.2;
  core::SeriesIndicators w01_all = w01;
  w01_all.kind.reset();
  core::SeriesIndicators city = w01;
  city.area = "all";
  city.city = true;
  core::SeriesIndicators city_all = city;
  city_all.kind.reset();
  in.series = {w01, w01_all, city, city_all};
  core::AreaIndicators area;
  area.area = "W01";
  area.has_totals = true;
  area.coproduction_events = {1, 2, 3, 6};
  area.windows[2] = {.new_participants = 2, .volunteer_seconds = 9000, .recycled_grams = 3200,
                     .collective_ratio = 0.5, .coproduction_ratio = 0.25,
                     .concentration_ratio = 0.75};
  core::AreaIndicators all = area;
  all.area = "all";
  all.city = true;
  in.areas = {area, all};
  in.participants_by_age[1] = {1, 2, 3};
  in.residents = {{"W01", 1200}};
  in.partitions = 3;
  in.min_watermark_ms = 1'700'000'000'000;
  return in;
}

std::string Text(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

TEST(IndicatorMetricsTest, NamesEveryFamilyOfTheContractInOrder) {
  std::vector<std::string> names;
  for (const prometheus::MetricFamily& f : ToMetricFamilies(Sample())) names.push_back(f.name);
  EXPECT_THAT(names,
              ElementsAre("civicpulse_events_total", "civicpulse_active_participants",
                          "civicpulse_new_participants", "civicpulse_volunteer_time_seconds",
                          "civicpulse_recycled_grams", "civicpulse_collective_participation_ratio",
                          "civicpulse_coproduction_ratio",
                          "civicpulse_participant_concentration_ratio",
                          "civicpulse_coproduction_events_total",
                          "civicpulse_active_participants_by_age", "civicpulse_area_residents",
                          "civicpulse_last_event_timestamp_seconds", "civicpulse_expected_events",
                          "civicpulse_expected_active_participants",
                          "civicpulse_participation_ratio", "civicpulse_baseline_ready",
                          "civicpulse_exporter_partitions",
                          "civicpulse_exporter_watermark_timestamp_seconds"));
}

TEST(IndicatorMetricsTest, LabelsTypesAndValues) {
  const std::string text = Text(ToMetricFamilies(Sample()));
  EXPECT_THAT(text, HasSubstr("# TYPE civicpulse_events_total counter\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_events_total{area=\"W01\",kind=\"watch_report\"} 12\n"));
  // Totals only for a single area and kind.
  EXPECT_THAT(text, ::testing::Not(HasSubstr("civicpulse_events_total{area=\"all\"")));
  EXPECT_THAT(text, HasSubstr("civicpulse_active_participants{area=\"W01\",kind=\"all\","
                              "window=\"24h\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_active_participants{area=\"all\",kind=\"all\","
                              "window=\"7d\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_volunteer_time_seconds{area=\"W01\",window=\"7d\"} 9000\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_participant_concentration_ratio{area=\"all\","
                              "window=\"7d\"} 0.75\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_coproduction_events_total{area=\"W01\","
                              "type=\"co_assessment\"} 6\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_active_participants_by_age{age_band=\"16-24\","
                              "window=\"7d\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_last_event_timestamp_seconds{area=\"W01\","
                              "kind=\"watch_report\"} 1700000000.5\n"));
  // The expectation only where ready (the 1h window here); participants for single series.
  EXPECT_THAT(text, HasSubstr("civicpulse_expected_events{area=\"all\",kind=\"all\","
                              "window=\"1h\"} 10\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("window=\"24h\"} 10\n")));
  EXPECT_THAT(text, HasSubstr("civicpulse_expected_active_participants{area=\"W01\","
                              "kind=\"watch_report\",window=\"1h\"} 2\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("civicpulse_expected_active_participants{area=\"all\"")));
  EXPECT_THAT(text, HasSubstr("civicpulse_participation_ratio{area=\"W01\",kind=\"all\","
                              "window=\"1h\"} 1.2\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_baseline_ready{area=\"all\",kind=\"watch_report\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_exporter_partitions 3\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_exporter_watermark_timestamp_seconds 1700000000\n"));
}

TEST(IndicatorMetricsTest, PromtoolFindsNothingToReport) {
  if (std::system("command -v promtool > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed";
  }
  const std::string file = ::testing::TempDir() + "/indicator_metrics_test.prom";
  std::ofstream(file) << Text(ToMetricFamilies(Sample()));
  const std::string out = file + ".out";
  EXPECT_EQ(std::system(("promtool check metrics < " + file + " > " + out + " 2>&1").c_str()), 0);
  std::ifstream in(out);
  const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(report, "");
}

}  // namespace
}  // namespace civicpulse::exporter
