// DeadLetterQueue: the dead letters of rejected records, kept until Kafka acknowledged them,
// so that no checkpoint ever covers a record whose dead letter could still be lost. A value
// larger than `max_record_bytes` is cut to fit, with headers `original-size` and
// `original-sha256` (of the whole value) so the cut is visible and checkable.
//
// Produce() sends every dead letter not sent yet; after a failed flush Retry() marks them all
// unsent again (a dead letter may then be delivered twice, never zero times); Acknowledge()
// after a successful flush forgets the sent ones.
//
// Thread-compatible: the consume thread calls everything.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "aggregator_metrics.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/kafka/producer.h"

namespace civicpulse::aggregator {

class DeadLetterQueue {
 public:
  // `metrics` must outlive this object.
  DeadLetterQueue(std::string topic, size_t max_record_bytes, AggregatorMetrics* metrics);

  // Keeps a dead letter for `record`, rejected with `status` (reason code and detail from
  // core::RejectionOf).
  void Add(const kafka::ConsumerRecord& record, const absl::Status& status);
  // Queues every dead letter not sent yet; the first queueing failure is returned (the rest
  // are still queued).
  absl::Status Produce(kafka::Producer* producer);
  // The flush after Produce() failed: everything sent may be lost, send it all again.
  void Retry();
  // The flush after Produce() succeeded: the sent dead letters are durable.
  void Acknowledge();

  size_t pending() const { return letters_.size(); }

 private:
  struct Letter {
    std::string key;
    std::string value;
    kafka::Headers headers;
    bool sent = false;
  };

  std::string topic_;
  size_t max_record_bytes_;
  AggregatorMetrics* metrics_;
  std::vector<Letter> letters_;
};

}  // namespace civicpulse::aggregator
