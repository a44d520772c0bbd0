// EventSink: where a batch's records go. The API answers 2xx only after Write()
// returned OK, so OK must mean durably stored. KafkaEventSink produces with
// civicpulse::kafka::Producer (idempotent, acks=all) and waits for every
// acknowledgement; handler tests use a fake.
//
// Implementations are thread-safe: the HTTP workers write concurrently.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "batch.h"
#include "civicpulse/kafka/producer.h"

namespace civicpulse::ingest {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Stores every record; OK only when all are acknowledged. An error comes back
  // within about `timeout` (Unavailable or DeadlineExceeded): then some records
  // may still be stored later, so a client's retry can duplicate them (the
  // aggregator drops repeated event_ids).
  virtual absl::Status Write(const std::vector<OutRecord>& records,
                             absl::Duration timeout) = 0;
};

class KafkaEventSink final : public EventSink {
 public:
  // `producer` must outlive the sink.
  KafkaEventSink(kafka::Producer* producer, std::string events_topic,
                 std::string dlq_topic);
  absl::Status Write(const std::vector<OutRecord>& records,
                     absl::Duration timeout) override;

 private:
  kafka::Producer* producer_;
  std::string events_topic_;
  std::string dlq_topic_;
};

}  // namespace civicpulse::ingest
