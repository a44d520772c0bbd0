// Unit tests of BrokerFault parsing (the control endpoint's query parameters).
#include "civicpulse/kafka/broker_fault.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::kafka {
namespace {

using Params = std::multimap<std::string, std::string>;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(BrokerFaultTest, ParsesRequestErrorsByNameRepeatedCountTimes) {
  auto fault = ParseBrokerFault(
      {{"action", "request_errors"}, {"api", "Produce"},
       {"error", "NOT_LEADER_FOR_PARTITION,REQUEST_TIMED_OUT"}, {"count", "2"}});
  ASSERT_TRUE(fault.ok()) << fault.status();
  EXPECT_EQ(fault->action, BrokerFault::Action::kRequestErrors);
  EXPECT_EQ(fault->api_key, 0);
  EXPECT_THAT(fault->errors, ElementsAre(6, 7, 6, 7));
  EXPECT_EQ(fault->ToString(),
            "request_errors Produce x4 NOT_LEADER_FOR_PARTITION,REQUEST_TIMED_OUT,"
            "NOT_LEADER_FOR_PARTITION,REQUEST_TIMED_OUT");
}

TEST(BrokerFaultTest, ParsesEveryAction) {
  EXPECT_EQ(ParseBrokerFault({{"action", "broker_down"}, {"broker", "2"}})->broker, 2);
  EXPECT_TRUE(ParseBrokerFault({{"action", "broker_up"}, {"broker", "2"}}).ok());
  EXPECT_EQ(ParseBrokerFault({{"action", "clear_request_errors"}, {"api", "EndTxn"}})->api_key,
            26);
  auto leader = ParseBrokerFault(
      {{"action", "leader"}, {"topic", "t"}, {"partition", "3"}, {"broker", "1"}});
  ASSERT_TRUE(leader.ok());
  EXPECT_EQ(leader->topic, "t");
  EXPECT_EQ(leader->partition, 3);
  auto coordinator = ParseBrokerFault(
      {{"action", "coordinator"}, {"type", "group"}, {"key", "g"}, {"broker", "3"}});
  ASSERT_TRUE(coordinator.ok());
  EXPECT_EQ(coordinator->coordinator_type, "group");
  EXPECT_EQ(ParseBrokerFault({{"action", "rtt"}, {"broker", "1"}, {"ms", "250"}})->rtt_ms, 250);
}

TEST(BrokerFaultTest, AcceptsNumericApiKeysAndErrorCodes) {
  EXPECT_EQ(*ParseApiKey("12"), 12);
  EXPECT_EQ(*ParseKafkaError("16"), 16);
  EXPECT_EQ(*ParseKafkaError("NOT_COORDINATOR"), 16);
}

TEST(BrokerFaultTest, RejectsWhatItCannotInjectWithOneClearReason) {
  EXPECT_THAT(std::string(ParseBrokerFault({}).status().message()),
              HasSubstr("missing parameter 'action'"));
  EXPECT_THAT(std::string(ParseBrokerFault({{"action", "meteor"}}).status().message()),
              HasSubstr("unknown action 'meteor'"));
  EXPECT_THAT(std::string(ParseBrokerFault({{"action", "request_errors"}, {"api", "Gossip"},
                                            {"error", "NOT_COORDINATOR"}})
                              .status()
                              .message()),
              HasSubstr("unknown Kafka API 'Gossip'"));
  EXPECT_THAT(std::string(ParseBrokerFault({{"action", "request_errors"}, {"api", "Fetch"},
                                            {"error", "TOO_SPICY"}})
                              .status()
                              .message()),
              HasSubstr("unknown Kafka error 'TOO_SPICY'"));
  EXPECT_FALSE(ParseBrokerFault({{"action", "broker_down"}, {"broker", "x"}}).ok());
  EXPECT_FALSE(ParseBrokerFault({{"action", "coordinator"}, {"type", "cluster"}, {"key", "g"},
                                 {"broker", "1"}})
                   .ok());
  EXPECT_FALSE(ParseBrokerFault({{"action", "rtt"}, {"broker", "1"}, {"ms", "-5"}}).ok());
}

}  // namespace
}  // namespace civicpulse::kafka
