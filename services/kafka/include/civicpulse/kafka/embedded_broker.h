// EmbeddedBroker: a Kafka-protocol cluster in this process (librdkafka's mock cluster) that
// listens on real TCP ports, so kcat and every civicpulse binary talk to it like to Kafka.
//
// Retention is short (the newest ~5 MiB or 100,000 batches of each partition). Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "civicpulse/kafka/broker_fault.h"

namespace civicpulse::kafka {

struct EmbeddedBrokerOptions {
  int nodes = 1;
  int partitions = 16;
  std::vector<std::string> topics;  // created at start with `partitions` partitions
};

class EmbeddedBroker {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedBroker>> Start(
      const EmbeddedBrokerOptions& options);
  virtual ~EmbeddedBroker() = default;
  // Comma-separated host:port list.
  virtual std::string bootstrap_servers() const = 0;
  // Takes every broker down (connections refused / closed) or brings them back up: for
  // tests of what a service does when Kafka goes away.
  virtual void SetAvailable(bool available) = 0;
  // Injects one fault (librdkafka's mock cluster API); InvalidArgument for a broker,
  // topic or partition the cluster does not have.
  virtual absl::Status Inject(const BrokerFault& fault) = 0;
  virtual int nodes() const = 0;
};

}  // namespace civicpulse::kafka
