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

prometheus::MetricFamily Family(std::string name, std::string help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void Add(prometheus::MetricFamily* f, std::vector<prometheus::ClientMetric::Label> labels,
         double value) {
  prometheus::ClientMetric& m = f->metric.emplace_back();
  m.label = std::move(labels);
  (f->type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value) = value;
}

std::vector<prometheus::MetricFamily> Sample(double events) {
  prometheus::MetricFamily counter =
      Family("civicpulse_events_total", "Applied events", prometheus::MetricType::Counter);
  Add(&counter, {{"area", "W01"}, {"kind", "watch_report"}}, events);
  prometheus::MetricFamily gauge =
      Family("civicpulse_active_participants", "", prometheus::MetricType::Gauge);  // help filled in
  Add(&gauge, {{"area", "all"}, {"kind", "all"}, {"window", "1h"}}, 4);
  Add(&gauge, {{"area", "all"}, {"kind", "all"}, {"window", "7d"}}, 5);
  return {counter, gauge};
}

std::string Text(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

TEST(IndicatorCollectorTest, ServesTypesLabelsAndValuesAsText) {
  IndicatorCollector collector;
  collector.Update(Sample(3));
  std::vector<prometheus::MetricFamily> families = collector.Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].type, prometheus::MetricType::Counter);
  EXPECT_EQ(families[0].metric[0].counter.value, 3);
  EXPECT_EQ(families[1].type, prometheus::MetricType::Gauge);
  EXPECT_FALSE(families[1].help.empty());
  const std::string text = *collector.Text();
  EXPECT_EQ(text, Text(families));  // serialized once, as prometheus-cpp would on a scrape
  EXPECT_THAT(text, HasSubstr("# TYPE civicpulse_events_total counter\n"));
  EXPECT_THAT(text, HasSubstr("civicpulse_events_total{area=\"W01\",kind=\"watch_report\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE civicpulse_active_participants gauge\n"));
  EXPECT_THAT(text,
              HasSubstr("civicpulse_active_participants{area=\"all\",kind=\"all\",window=\"7d\"} 5"));
}

TEST(IndicatorCollectorTest, ServesTheLatestUpdate) {
  IndicatorCollector collector;
  EXPECT_THAT(collector.Collect(), IsEmpty());
  EXPECT_THAT(*collector.Text(), IsEmpty());
  collector.Update(Sample(1));
  collector.Update(Sample(7));
  std::vector<prometheus::MetricFamily> families = collector.Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].metric[0].counter.value, 7);
  EXPECT_THAT(*collector.Text(),
              HasSubstr("civicpulse_events_total{area=\"W01\",kind=\"watch_report\"} 7\n"));
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
    // The text is one whole snapshot too, and stays valid while a newer one replaces it.
    std::shared_ptr<const std::string> text = collector.Text();
    ASSERT_THAT(*text, HasSubstr("window=\"7d\"} 5\n"));
  }
  updater.join();
  EXPECT_EQ(collector.Collect()[0].metric[0].counter.value, 2000);
}

}  // namespace
}  // namespace civicpulse::exporter
