#include "config.h"

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "civicpulse/runtime/flags_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::aggregator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Parses `args` (after the program name) into a fresh config.
absl::Status Parse(std::vector<std::string> args, AggregatorConfig* config) {
  return runtime::ParseFlagsForTest("civicpulse-aggregator", std::move(args), config);
}

TEST(AggregatorConfigTest, Defaults) {
  AggregatorConfig config;
  ASSERT_TRUE(Parse({"--brokers", "localhost:9092"}, &config).ok());
  EXPECT_EQ(config.common.listen, "0.0.0.0:9401");
  EXPECT_EQ(config.group, "civicpulse-aggregator");
  EXPECT_EQ(config.topic, "civicpulse.events.v1");
  EXPECT_EQ(config.dlq_topic, "civicpulse.events.dlq.v1");
  EXPECT_EQ(config.aggregates_topic, "civicpulse.aggregates.v1");
  EXPECT_EQ(config.engine.allowed_lateness_ms, 5 * 60 * 1000);
  EXPECT_EQ(config.engine.grace_ms, 60 * 60 * 1000);
  EXPECT_EQ(config.engine.idle_timeout_ms, 60 * 1000);
  EXPECT_EQ(config.flush_every, absl::Seconds(1));
  EXPECT_EQ(config.checkpoint_every, absl::Seconds(1));  // every flush
  EXPECT_EQ(config.snapshot_every, absl::Minutes(10));
  EXPECT_EQ(config.areas.max_areas, 500u);
  EXPECT_TRUE(config.areas.allowed.empty());
  EXPECT_FALSE(config.instance_id.empty());
}

TEST(AggregatorConfigTest, ApplyThreadsDefaultToTheUsableCoresUpToFour) {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  ASSERT_EQ(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
  AggregatorConfig config;
  ASSERT_TRUE(Parse({"--brokers", "b:1"}, &config).ok());
  EXPECT_EQ(config.apply_threads, std::clamp(CPU_COUNT(&cpus), 1, 4));

  AggregatorConfig three;
  ASSERT_TRUE(Parse({"--brokers", "b:1", "--apply-threads", "3"}, &three).ok());
  EXPECT_EQ(three.apply_threads, 3);
  for (const char* bad : {"-1", "65"}) {
    AggregatorConfig config;
    const absl::Status s = Parse({"--brokers", "b:1", "--apply-threads", bad}, &config);
    EXPECT_THAT(s.message(), HasSubstr("--apply-threads must be 0..64")) << bad;
  }
}

TEST(AggregatorConfigTest, ParsesDurationsAndNames) {
  AggregatorConfig config;
  absl::Status s = Parse({"--brokers", "b:1", "--allowed-lateness", "90s", "--grace", "2h",
                          "--idle-timeout", "2s", "--flush-interval", "500ms",
                          "--snapshot-interval", "5m", "--checkpoint-interval", "10s",
                          "--instance-id", "agg-1", "--max-areas", "3", "--group", "g", "-X",
                          "linger.ms=1"},
                         &config);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(config.engine.allowed_lateness_ms, 90'000);
  EXPECT_EQ(config.engine.grace_ms, 2 * 3600'000);
  EXPECT_EQ(config.engine.idle_timeout_ms, 2000);
  EXPECT_EQ(config.flush_every, absl::Milliseconds(500));
  EXPECT_EQ(config.snapshot_every, absl::Minutes(5));
  EXPECT_EQ(config.checkpoint_every, absl::Seconds(10));
  EXPECT_EQ(config.instance_id, "agg-1");
  EXPECT_EQ(config.areas.max_areas, 3u);
  EXPECT_EQ(config.group, "g");
  ASSERT_EQ(config.common.kafka.properties.size(), 1u);
}

TEST(AggregatorConfigTest, RejectsBadValuesWithOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"--grace", "soon"}, "--grace: \"soon\" is not a duration"},
      {{"--allowed-lateness", "-1m"}, "--allowed-lateness must not be negative"},
      {{"--idle-timeout", "0s"}, "--idle-timeout must be positive"},
      {{"--flush-interval", "1ms"}, "--flush-interval"},
      {{"--snapshot-interval", "100ms"}, "--snapshot-interval"},
      {{"--checkpoint-interval", "500ms"}, "--checkpoint-interval must be between"},
      {{"--checkpoint-interval", "1h"}, "--checkpoint-interval must be between"},
      {{"--max-areas", "0"}, "--max-areas"},
      {{"--group", ""}, "--group"},
      {{"--aggregates-topic", "civicpulse.events.v1"}, "four different topics"},
      {{"--changelog-topic", "civicpulse.aggregates.v1"}, "four different topics"},
      {{"--max-record-bytes", "100"}, "--max-record-bytes"},
      {{"--listen", "nonsense"}, "--listen"},
      {{"--areas-file", "/nonexistent.csv"}, "cannot read areas file"},
  };
  for (Case& c : cases) {
    AggregatorConfig config;
    c.args.insert(c.args.begin(), {"--brokers", "b:1"});
    absl::Status s = Parse(c.args, &config);
    EXPECT_FALSE(s.ok()) << c.args.back();
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
    EXPECT_EQ(std::string(s.message()).find('\n'), std::string::npos);
  }
}

TEST(AggregatorConfigTest, AreasFileIsTheAllowList) {
  const std::string path = ::testing::TempDir() + "/aggregator_config_test_areas.csv";
  {
    std::ofstream out(path);
    out << "area,residents\nW01,1000\nW02,2000\n";
  }
  AggregatorConfig config;
  absl::Status s = Parse({"--brokers", "b:1", "--areas-file", path}, &config);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(config.areas.allowed, ElementsAre("W01", "W02"));
  std::remove(path.c_str());
}

TEST(AggregatorConfigTest, DefaultInstanceIdIsHostnameDashPid) {
  EXPECT_THAT(DefaultInstanceId(), ::testing::MatchesRegex(".+-[0-9]+"));
}

}  // namespace
}  // namespace civicpulse::aggregator
