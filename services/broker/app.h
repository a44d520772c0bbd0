// BrokerApp: civicpulse-broker, an embedded Kafka-protocol cluster (librdkafka's mock
// cluster on real TCP ports) with civicpulse's topics created, for running the whole stack
// on one machine. Runs until SIGINT/SIGTERM.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace civicpulse::broker {

struct BrokerConfig {
  int nodes = 1;           // --nodes
  int partitions = 16;     // --partitions (for every topic)
  std::string bootstrap_file;  // --bootstrap-file: written with the bootstrap list
  std::string control_listen;  // --control-listen: host:port of the fault-injection API
  std::vector<std::string> topics = {"civicpulse.events.v1", "civicpulse.events.dlq.v1",
                                     "civicpulse.aggregates.v1",
                                     "civicpulse.aggregator.changelog.v1"};

  void AddFlags(CLI::App* app);
  absl::Status Validate() const;
};

// Starts the cluster, announces it on stdout (and the bootstrap file), and serves until a
// shutdown signal. With --control-listen, also serves `POST /v1/faults?action=...`
// (kafka::ParseBrokerFault) and /healthz. Returns non-OK on a start-up failure.
absl::Status RunBroker(const BrokerConfig& config);

}  // namespace civicpulse::broker
