// BatchWriter: the writing side of the batch framing (proto/civicpulse/v1/batch.proto,
// docs/delivery.md) for one source partition's log on one Kafka partition. Every record of a
// batch gets the lineage's epoch and owner, the batch number and its index; the last record
// also gets the count, which makes it the batch's commit marker. To know which record is the
// last, the writer holds each record back until the next Add() or End().
//
// `Message` is a protobuf message with a `batch` field (v1::PartialAggregate,
// v1::ChangelogRecord). Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "civicpulse/kafka/producer.h"
#include "civicpulse/v1/batch.pb.h"

namespace civicpulse::aggregator {

// Who writes a source partition's logs, and where each log's batch numbering is.
struct Lineage {
  int64_t epoch = 0;
  uint64_t owner = 0;
};

template <typename Message>
class BatchWriter {
 public:
  // Writes to `topic`, partition `kafka_partition`, through `producer` (not owned).
  BatchWriter(kafka::Producer* producer, std::string_view topic, int32_t kafka_partition,
              Lineage lineage, int64_t batch, bool snapshot)
      : producer_(producer), topic_(topic), partition_(kafka_partition) {
    header_.set_epoch(lineage.epoch);
    header_.set_owner(lineage.owner);
    header_.set_batch(batch);
    header_.set_snapshot(snapshot);
  }

  // Queues `message` under `key`. It is serialized at once (the caller may reuse or free
  // it, wherever it was allocated: heap or arena); its `batch` field must be unset.
  absl::Status Add(std::string key, const Message& message) {
    absl::Status status = SendHeld(/*last=*/false);
    held_value_.clear();
    message.AppendPartialToString(&held_value_);
    held_key_ = std::move(key);
    has_held_ = true;
    return status;
  }

  // Queues the held record as the batch's last. A batch needs at least one record.
  absl::Status End() { return SendHeld(/*last=*/true); }

  // Bytes queued so far (values and keys).
  size_t bytes() const { return bytes_; }
  int32_t records() const { return index_; }

 private:
  absl::Status SendHeld(bool last) {
    if (!has_held_) {
      return last ? absl::InternalError("batch without records") : absl::OkStatus();
    }
    // The header is appended as the record's `batch` field: a protobuf message is the
    // concatenation of its fields in any order, so the body need not be serialized again.
    header_.set_index(index_);
    header_.set_count(last ? index_ + 1 : 0);
    *tail_.mutable_batch() = header_;
    tail_.AppendPartialToString(&held_value_);
    has_held_ = false;
    ++index_;
    bytes_ += held_value_.size() + held_key_.size();
    return producer_->Produce(
        {.topic = topic_, .key = held_key_, .value = held_value_, .partition = partition_});
  }

  kafka::Producer* producer_;
  std::string_view topic_;
  int32_t partition_;
  v1::BatchHeader header_;
  Message tail_;  // only its `batch` field is ever set
  std::string held_key_;
  std::string held_value_;
  bool has_held_ = false;
  int32_t index_ = 0;
  size_t bytes_ = 0;
};

}  // namespace civicpulse::aggregator
