// Producer: an idempotent (acks=all) Kafka producer.
//
// Produce() queues a record and returns at once; Flush() waits for every queued record and
// reports the first delivery failure since the previous Flush(). ProduceAndWait() sends a
// batch and returns only once Kafka acknowledged all of it (or failed / timed out): the
// primitive behind "a 2xx means durable". Errors come back as Status, never exceptions:
// Unavailable when the cluster cannot be reached in time, DeadlineExceeded on timeout,
// ResourceExhausted when a record is larger than the cluster takes (the record's fault).
//
// Thread-safe: Produce, Flush and ProduceAndWait may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "civicpulse/kafka/client_config.h"

namespace civicpulse::kafka {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ProducerRecord {
  std::string_view topic;
  std::string_view key;
  std::string_view value;
  Headers headers;
  int32_t partition = -1;  // -1: by key (librdkafka's default partitioner)
};

struct ProducerOptions {
  // Settings for throughput: linger and batch size; callers may override with -X.
  int linger_ms = 5;
  bool idempotent = true;
  // librdkafka's compression.type ("none", "lz4", "zstd", ...); -X overrides it.
  std::string compression = "none";
  // Upper bound on how long a record may wait for delivery before it fails.
  absl::Duration message_timeout = absl::Seconds(30);
};

class Producer {
 public:
  // Creates the producer and checks that the cluster answers within `connect_timeout`.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(
      const ClientConfig& config, const ProducerOptions& options = {},
      absl::Duration connect_timeout = absl::Seconds(10));
  virtual ~Producer() = default;

  virtual absl::Status Produce(const ProducerRecord& record) = 0;
  virtual absl::Status Flush(absl::Duration timeout) = 0;
  virtual absl::Status ProduceAndWait(const std::vector<ProducerRecord>& records,
                                      absl::Duration timeout) = 0;
  // Serves librdkafka's delivery callbacks; call regularly when only Produce() is used.
  virtual void Poll() = 0;
  // Number of partitions of `topic`, from cluster metadata.
  virtual absl::StatusOr<int> PartitionCount(std::string_view topic,
                                             absl::Duration timeout) = 0;
};

}  // namespace civicpulse::kafka
