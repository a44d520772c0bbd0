// ClientConfig: how to reach Kafka. `brokers` is the bootstrap list (--brokers or
// CIVICPULSE_BROKERS); `properties` are librdkafka settings passed through verbatim from
// `-X key=value` flags (security.protocol, sasl.*, ssl.*, ...), applied last so they win.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace civicpulse::kafka {

struct ClientConfig {
  std::string brokers;
  std::vector<std::pair<std::string, std::string>> properties;
};

// Default topic names (docs/reference.md, "Topics"); every service lets them be overridden.
inline constexpr char kEventsTopic[] = "civicpulse.events.v1";
inline constexpr char kDeadLetterTopic[] = "civicpulse.events.dlq.v1";
inline constexpr char kAggregatesTopic[] = "civicpulse.aggregates.v1";
// The aggregators' state changelog (docs/delivery.md).
inline constexpr char kChangelogTopic[] = "civicpulse.aggregator.changelog.v1";

}  // namespace civicpulse::kafka
