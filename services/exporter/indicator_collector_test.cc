#include "indicator_collector.h"

#include <atomic>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace civicpulse::exporter {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<core::IndicatorFamily> Sample(double events) {
  core::IndicatorFamily counter;
  counter.name = "civicpulse_events_total";
  counter.help = "Applied events";
  counter.type = core::MetricType::kCounter;
  counter.series.push_back({{{"area", "W01"}, {"kind", "watch_report"}}, events});
  core::IndicatorFamily gauge;
  gauge.name = "civicpulse_active_participants";
  gauge.help = "";  // filled in
  gauge.type = core::MetricType::kGauge;
  gauge.series.push_back({{{"area", "all"}, {"kind", "all"}, {"window", "1h"}}, 4});
  gauge.series.push_back({{{"area", "all"}, {"kind", "all"}, {"window", "7d"}}, 5});
  return {counter, gauge};
}

std::string Text(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

TEST(IndicatorCollectorTest, ConvertsTypesLabelsAndValues) {
  std::vector<prometheus::MetricFamily> families = ToMetricFamilies(Sample(3));
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].type, prometheus::MetricType::Counter);
  EXPECT_EQ(families[0].metric[0].counter.value, 3);
  EXPECT_EQ(families[1].type, prometheus::MetricType::Gauge);
  EXPECT_FALSE(families[1].help.empty());
  const std::string text = Text(families);
  EXPECT_THAT(text, HasSubstr("# TYPE civicpulse_events_total counter\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_events_total{area=\"W01\",kind=\"watch_report\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE civicpulse_active_participants gauge\n"));
  EXPECT_THAT(text,
              HasSubstr("civicpulse_active_participants{area=\"all\",kind=\"all\",window=\"7d\"} 5"));
}

TEST(IndicatorCollectorTest, ServesTheLatestUpdate) {
  IndicatorCollector collector;
  EXPECT_THAT(collector.Collect(), IsEmpty());
  collector.Update(Sample(1));
  collector.Update(Sample(7));
  std::vector<prometheus::MetricFamily> families = collector.Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].metric[0].counter.value, 7);
}

TEST(IndicatorCollectorTest, CollectWhileUpdatingSeesWholeSnapshots) {
  IndicatorCollector collector;
  collector.Update(Sample(0));
  std::atomic<bool> done{false};
  std::thread updater([&] {
    for (int i = 1; i <= 2000; ++i) collector.Update(Sample(i));
    done.store(true);
  });
  double last = 0;
  while (!done.load()) {
    std::vector<prometheus::MetricFamily> families = collector.Collect();
    ASSERT_EQ(families.size(), 2u);
    ASSERT_EQ(families[1].metric.size(), 2u);
    const double value = families[0].metric[0].counter.value;
    ASSERT_GE(value, last);  // snapshots only move forward
    last = value;
  }
  updater.join();
  EXPECT_EQ(collector.Collect()[0].metric[0].counter.value, 2000);
}

}  // namespace
}  // namespace civicpulse::exporter
