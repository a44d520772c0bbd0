// BrokerStates: what librdkafka's statistics (statistics.interval.ms) say of the client's
// connections to the brokers. librdkafka reports a connection error once and then suppresses
// repeats, so "no broker is up" can only be told from its statistics. Pure; thread-compatible.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace civicpulse::kafka::internal {

struct BrokerStates {
  int brokers = 0;   // real brokers the client knows (bootstrap and logical entries excluded)
  int up = 0;        // of which the client has a connection in state UP
  std::string down;  // "host:port/id=STATE, ..." of the others, for an error message
};

// Parses one statistics JSON document. InvalidArgument when it is not one.
absl::StatusOr<BrokerStates> ParseBrokerStates(std::string_view statistics_json);

}  // namespace civicpulse::kafka::internal
