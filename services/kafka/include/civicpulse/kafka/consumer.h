// Consumer: a Kafka consumer, either a consumer-group member (cooperative-sticky
// assignment, manual commits) or a manual assignment of every partition of its topics.
//
// Poll() hands out a batch of records whose views stay valid until the next Poll(). A batch
// holds no record of a partition revoked or lost during that Poll() unless the record was
// read after the partition was assigned again.
// Offsets are committed only by explicit Commit(), so a caller commits after the state the
// offsets cover is durable. Assignment changes are reported to the RebalanceListener from
// inside Poll(), on the polling thread.
//
// Thread-compatible: one thread polls. (With librdkafka before 2.1, a consumer also runs a
// thread of its own that wakes librdkafka's fetchers when the application has drained the
// local queue to half: see fetch_wakeups().)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "civicpulse/kafka/client_config.h"

namespace civicpulse::kafka {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;  // next offset to read, where relevant
  bool operator==(const TopicPartition&) const = default;
};

// A record as consumed; views are valid until the next Poll().
struct ConsumerRecord {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string_view key;
  std::string_view value;
  // Value of the first header with this name, if any.
  std::optional<std::string_view> Header(std::string_view name) const;
  const void* native = nullptr;  // rd_kafka_message_t, for Header()
};

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Partitions just assigned; set `offset` of an entry to choose where reading starts
  // (-2 = earliest retained, -1 = committed or auto.offset.reset).
  virtual void OnAssigned(std::vector<TopicPartition>* partitions) = 0;
  // Partitions about to be taken away: flush and commit their state now.
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions) = 0;
  // Partitions already taken away (this member was thrown out of the group, e.g. after a
  // stall longer than the session timeout): another member may own them now, so nothing may
  // be published or committed for them any more. Defaults to OnRevoked.
  virtual void OnLost(const std::vector<TopicPartition>& partitions) { OnRevoked(partitions); }
};

inline constexpr int64_t kOffsetBeginning = -2;
inline constexpr int64_t kOffsetStored = -1000;

struct ConsumerOptions {
  std::vector<std::string> topics;
  // Consumer-group member when set; otherwise every partition of `topics` is assigned from
  // the earliest offset (the exporter's way of reading a whole topic), or only the
  // partitions in `assign`, from their `offset` (a restore reading a changelog).
  std::string group_id;
  std::vector<TopicPartition> assign;
  RebalanceListener* listener = nullptr;  // not owned; may be null
  // Records handed out per Poll() at most.
  int max_batch = 10000;
};

class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(
      const ClientConfig& config, const ConsumerOptions& options,
      absl::Duration connect_timeout = absl::Seconds(10));
  virtual ~Consumer() = default;

  // Waits up to `timeout` for records; returns the batch (possibly empty).
  virtual absl::StatusOr<const std::vector<ConsumerRecord>*> Poll(
      absl::Duration timeout) = 0;
  // The transient errors librdkafka reported during Poll() since the last call (it retries
  // them by itself; brokers unreachable, a partition's offset reset, ...), newest last, at
  // most 16; while no known broker is reachable, one "no broker reachable (...)" a second
  // (from librdkafka's statistics). For honest health reporting: Poll() itself keeps going.
  virtual std::vector<std::string> TakeTransientErrors() = 0;
  // Commits the given next-offsets synchronously.
  virtual absl::Status Commit(const std::vector<TopicPartition>& offsets) = 0;
  virtual std::vector<TopicPartition> Assignment() = 0;
  // High watermark (log end offset) of a partition as of the last fetch response; never
  // blocks. NotFound before the first fetch response for it.
  virtual absl::StatusOr<int64_t> HighWatermark(const std::string& topic,
                                                int32_t partition) = 0;
  // Earliest retained and log end offsets of each of `partitions` of `topic` (in that order),
  // queried from the brokers: one request per broker and kind, not a round trip per
  // partition (128 partitions took 12 s one by one on the embedded broker).
  virtual absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> QueryWatermarks(
      const std::string& topic, const std::vector<int32_t>& partitions,
      absl::Duration timeout) = 0;
  // Times the fetchers were woken because the application had drained the local queue
  // (services/kafka/src/fetch_wake_policy.h); 0 with a librdkafka that needs no waking.
  // Safe to call from any thread.
  virtual uint64_t fetch_wakeups() const = 0;
  // Leaves the group cleanly (revoking partitions through the listener).
  virtual void Close() = 0;
};

}  // namespace civicpulse::kafka
