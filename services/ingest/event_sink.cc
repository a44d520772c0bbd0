#include "event_sink.h"

namespace civicpulse::ingest {

KafkaEventSink::KafkaEventSink(kafka::Producer* producer,
                               std::string events_topic, std::string dlq_topic)
    : producer_(producer),
      events_topic_(std::move(events_topic)),
      dlq_topic_(std::move(dlq_topic)) {}

absl::Status KafkaEventSink::Write(const std::vector<OutRecord>& records,
                                   absl::Duration timeout) {
  std::vector<kafka::ProducerRecord> out;
  out.reserve(records.size());
  for (const OutRecord& record : records) {
    out.push_back({.topic = record.topic == OutTopic::kEvents ? events_topic_
                                                              : dlq_topic_,
                   .key = record.key,
                   .value = record.value,
                   .headers = record.headers});
  }
  return producer_->ProduceAndWait(out, timeout);
}

}  // namespace civicpulse::ingest
