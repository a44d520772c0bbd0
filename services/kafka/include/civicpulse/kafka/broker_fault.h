// BrokerFault: one fault to inject into the embedded broker, for chaos tests and demos of
// what the services do when Kafka misbehaves: a broker down or back up, errors answered to
// the next requests of one Kafka API, a partition leader or a coordinator moved to another
// broker, or a round-trip delay. Parsed from the query parameters of civicpulse-broker's
// control endpoint (`POST /v1/faults?action=...`, services/broker/README.md).
//
// A value type; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace civicpulse::kafka {

struct BrokerFault {
  enum class Action {
    kBrokerDown,          // broker=<id>: connections refused and closed
    kBrokerUp,            // broker=<id>
    kRequestErrors,       // api=<name> error=<name>[,<name>...] [count=<n>]
    kClearRequestErrors,  // api=<name>
    kLeader,              // topic=<t> partition=<p> broker=<id>
    kCoordinator,         // type=group|transaction key=<group id or transactional id> broker=<id>
    kRtt,                 // broker=<id> ms=<delay>
  };
  Action action = Action::kBrokerDown;
  int32_t broker = -1;
  int16_t api_key = -1;
  // Kafka error codes (rd_kafka_resp_err_t), answered in order to the next requests.
  std::vector<int> errors;
  std::string topic;
  int32_t partition = -1;
  std::string coordinator_type;
  std::string key;
  int rtt_ms = 0;

  // One line, for logs ("request_errors Produce x3 NOT_LEADER_FOR_PARTITION").
  std::string ToString() const;
};

// Parses `action` and its parameters (see BrokerFault::Action). API names are Kafka's
// (Produce, Fetch, ListOffsets, Metadata, OffsetCommit, OffsetFetch, FindCoordinator,
// JoinGroup, Heartbeat, LeaveGroup, SyncGroup, InitProducerId, AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn, TxnOffsetCommit) or their numeric keys; error names are
// librdkafka's without the RD_KAFKA_RESP_ERR_ prefix (NOT_LEADER_FOR_PARTITION,
// REQUEST_TIMED_OUT, NOT_COORDINATOR, ...) or numeric codes.
absl::StatusOr<BrokerFault> ParseBrokerFault(
    const std::multimap<std::string, std::string>& params);

// Kafka API key of a name above, or an error.
absl::StatusOr<int16_t> ParseApiKey(const std::string& name);
// Kafka error code of a librdkafka error name, or an error.
absl::StatusOr<int> ParseKafkaError(const std::string& name);

}  // namespace civicpulse::kafka
