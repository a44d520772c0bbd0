#include "broker_stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace civicpulse::kafka::internal {
namespace {

// The shape of librdkafka 2.0's statistics, cut down to what ParseBrokerStates reads.
constexpr char kOneDown[] = R"({
  "name": "rdkafka#consumer-1", "type": "consumer", "ts": 1,
  "brokers": {
    "127.0.0.1:9092/bootstrap": {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1,
                                 "source": "configured", "state": "INIT"},
    "127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1, "source": "learned",
                         "state": "UP"},
    "127.0.0.1:9093/2": {"name": "127.0.0.1:9093/2", "nodeid": 2, "source": "learned",
                         "state": "CONNECT"},
    "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": -1, "source": "logical",
                         "state": "UP"}
  },
  "topics": {}
})";

TEST(ParseBrokerStatesTest, CountsLearnedBrokersAndNamesTheOnesNotUp) {
  absl::StatusOr<BrokerStates> states = ParseBrokerStates(kOneDown);
  ASSERT_TRUE(states.ok()) << states.status();
  EXPECT_EQ(states->brokers, 2);
  EXPECT_EQ(states->up, 1);
  EXPECT_EQ(states->down, "127.0.0.1:9093/2=CONNECT");
}

TEST(ParseBrokerStatesTest, EveryBrokerDownIsZeroUp) {
  constexpr char kAllDown[] = R"({"brokers": {
      "a:1/1": {"nodeid": 1, "source": "learned", "state": "DOWN"},
      "a:2/2": {"nodeid": 2, "source": "learned", "state": "TRY_CONNECT"},
      "GroupCoordinator": {"nodeid": 2, "source": "logical", "state": "UP"}}})";
  absl::StatusOr<BrokerStates> states = ParseBrokerStates(kAllDown);
  ASSERT_TRUE(states.ok());
  EXPECT_EQ(states->brokers, 2);
  EXPECT_EQ(states->up, 0);
  EXPECT_EQ(states->down, "a:1/1=DOWN, a:2/2=TRY_CONNECT");
}

TEST(ParseBrokerStatesTest, NoBrokersLearnedYetIsZeroOfZero) {
  absl::StatusOr<BrokerStates> states = ParseBrokerStates(R"({"brokers": {
      "h:1/bootstrap": {"nodeid": -1, "source": "configured", "state": "CONNECT"}}})");
  ASSERT_TRUE(states.ok());
  EXPECT_EQ(states->brokers, 0);
  EXPECT_EQ(states->up, 0);
  ASSERT_TRUE(ParseBrokerStates(R"({"name": "x"})").ok());
}

TEST(ParseBrokerStatesTest, MalformedStatisticsAreInvalidArgument) {
  EXPECT_EQ(ParseBrokerStates("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBrokerStates("[1]").status().code(), absl::StatusCode::kInvalidArgument);
  // Odd members are skipped, never trusted.
  absl::StatusOr<BrokerStates> states = ParseBrokerStates(
      R"({"brokers": {"x": 1, "y": {"nodeid": "1", "state": "UP"}, "z": {"nodeid": 3}}})");
  ASSERT_TRUE(states.ok());
  EXPECT_EQ(states->brokers, 0);
}

}  // namespace
}  // namespace civicpulse::kafka::internal
