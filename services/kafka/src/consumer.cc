#include "civicpulse/kafka/consumer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "broker_stats.h"
#include "client_conf.h"
#include "fetch_wake_policy.h"

namespace civicpulse::kafka {

std::optional<std::string_view> ConsumerRecord::Header(std::string_view name) const {
  if (native == nullptr) return std::nullopt;
  rd_kafka_headers_t* headers = nullptr;
  auto* message = static_cast<rd_kafka_message_t*>(const_cast<void*>(native));
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  std::string key(name);
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, key.c_str(), &value, &size) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  if (value == nullptr) return std::string_view();
  return std::string_view(static_cast<const char*>(value), size);
}

namespace {

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  out.reserve(list->cnt);
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return out;
}

rd_kafka_topic_partition_list_t* ToList(const std::vector<TopicPartition>& partitions) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
  for (const TopicPartition& tp : partitions) {
    rd_kafka_topic_partition_t* elem =
        rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition);
    elem->offset = tp.offset == kOffsetStored ? RD_KAFKA_OFFSET_INVALID : tp.offset;
  }
  return list;
}

class RdKafkaConsumer final : public Consumer {
 public:
  explicit RdKafkaConsumer(ConsumerOptions options) : options_(std::move(options)) {}

  ~RdKafkaConsumer() override {
    ReleaseBatch();
    StopFetchWaker();
    if (handle_ != nullptr) {
      Close();
      rd_kafka_destroy(handle_);
    }
  }

  absl::Status Init(const ClientConfig& config, absl::Duration connect_timeout) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const bool group = !options_.group_id.empty();
    std::vector<std::pair<std::string, std::string>> defaults = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"log_level", "3"},
        {"fetch.wait.max.ms", "100"},
        // librdkafka stops fetching once its queue holds queued.min.messages (100,000 by
        // default) and decides again only when its broker thread next wakes, up to a second
        // later: an aggregator applying 250-400 k records/s drained the queue and waited
        // 0.4-0.8 s each time, idle 40% of a replay (bench/README.md, "The consumer's queue").
        // The queue's size in bytes bounds it instead, and the fetch waker (below) wakes the
        // fetcher when the queue has drained to half, so 8 MiB (librdkafka's default is
        // 64 MiB: about 265 MB of its memory at 280 k records/s) keep up with any consumer
        // (bench/README.md, "The consumer's queue, woken"); -X overrides both.
        {"queued.min.messages", "1000000"},
        {"queued.max.messages.kbytes", "8192"},
        // Broker connection states, every second: the only way to tell that no broker is
        // reachable after librdkafka has reported (once) that one went away.
        {"statistics.interval.ms", "1000"},
    };
    if (rd_kafka_version() >= kFetchQueueBackoffVersion) {
      // How long a librdkafka from 2.1 on waits before it looks at a full queue again (1 s
      // by default, the wait the fetch waker cuts short on older ones; this one runs none).
      defaults.push_back({"fetch.queue.backoff.ms", "20"});
    }
    if (group) {
      defaults.push_back({"group.id", options_.group_id});
      defaults.push_back({"partition.assignment.strategy", "cooperative-sticky"});
      // A member that died (kill -9) holds its partitions until its session times out;
      // 10 s instead of Kafka's 45 s lets a restarted instance take over quickly.
      defaults.push_back({"session.timeout.ms", "10000"});
      defaults.push_back({"heartbeat.interval.ms", "1000"});
    } else {
      // A group id is required by librdkafka's consumer even when nothing is committed.
      defaults.push_back({"group.id", "civicpulse-unmanaged"});
    }
    absl::Status status = internal::ApplyConfig(conf, config, defaults);
    if (!status.ok()) {
      rd_kafka_conf_destroy(conf);
      return status;
    }
    if (group) rd_kafka_conf_set_rebalance_cb(conf, &RdKafkaConsumer::OnRebalance);
    // Client-level errors (brokers unreachable, ...) arrive here, on the polling thread.
    rd_kafka_conf_set_error_cb(conf, &RdKafkaConsumer::OnError);
    rd_kafka_conf_set_stats_cb(conf, &RdKafkaConsumer::OnStatistics);
    rd_kafka_conf_set_opaque(conf, this);
    char errstr[512];
    handle_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (handle_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", errstr));
    }
    rd_kafka_poll_set_consumer(handle_);
    const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(connect_timeout));
    if (absl::Status s = internal::AwaitCluster(handle_, timeout_ms, config); !s.ok()) {
      return s;
    }
    if (group) {
      rd_kafka_topic_partition_list_t* topics =
          rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size()));
      for (const std::string& topic : options_.topics) {
        rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
      }
      rd_kafka_resp_err_t err = rd_kafka_subscribe(handle_, topics);
      rd_kafka_topic_partition_list_destroy(topics);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::InternalError(absl::StrCat("subscribe: ", rd_kafka_err2str(err)));
      }
    } else if (!options_.assign.empty()) {
      rd_kafka_topic_partition_list_t* list = ToList(options_.assign);
      rd_kafka_resp_err_t err = rd_kafka_assign(handle_, list);
      rd_kafka_topic_partition_list_destroy(list);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::InternalError(absl::StrCat("assign: ", rd_kafka_err2str(err)));
      }
    } else if (absl::Status s = AssignEverything(timeout_ms); !s.ok()) {
      return s;
    }
    if (rd_kafka_version() < kFetchQueueBackoffVersion) {
      fetch_waker_ = std::thread([this] { RunFetchWaker(); });
    }
    return absl::OkStatus();
  }

  uint64_t fetch_wakeups() const override { return fetch_wakeups_.load(std::memory_order_relaxed); }

  absl::StatusOr<const std::vector<ConsumerRecord>*> Poll(absl::Duration timeout) override {
    ReleaseBatch();
    int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    size_t batch_bytes = 0;
    while (static_cast<int>(batch_.size()) < options_.max_batch) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(handle_, wait_ms);
      wait_ms = 0;
      if (message == nullptr) break;
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const rd_kafka_resp_err_t err = message->err;
        if (err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          AddTransientError(rd_kafka_message_errstr(message));
        }
        rd_kafka_message_destroy(message);
        if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        char errstr[512];
        if (rd_kafka_fatal_error(handle_, errstr, sizeof(errstr)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          return absl::InternalError(absl::StrCat("kafka consumer fatal error: ", errstr));
        }
        continue;  // transient: librdkafka retries by itself
      }
      messages_.push_back(message);
      ConsumerRecord record;
      record.topic = rd_kafka_topic_name(message->rkt);
      record.partition = message->partition;
      record.offset = message->offset;
      record.timestamp_ms = rd_kafka_message_timestamp(message, nullptr);
      record.key = std::string_view(static_cast<const char*>(message->key), message->key_len);
      record.value =
          std::string_view(static_cast<const char*>(message->payload), message->len);
      record.native = message;
      batch_.push_back(record);
      batch_bytes += message->key_len + message->len;
    }
    if (!batch_.empty()) {
      mean_record_bytes_.store(std::max<size_t>(1, batch_bytes / batch_.size()),
                               std::memory_order_relaxed);
    }
    return &batch_;
  }

  std::vector<std::string> TakeTransientErrors() override {
    return std::exchange(transient_errors_, {});
  }

  absl::Status Commit(const std::vector<TopicPartition>& offsets) override {
    if (offsets.empty()) return absl::OkStatus();
    rd_kafka_topic_partition_list_t* list = ToList(offsets);
    rd_kafka_resp_err_t err = rd_kafka_commit(handle_, list, /*async=*/0);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      return absl::UnavailableError(absl::StrCat("commit: ", rd_kafka_err2str(err)));
    }
    return absl::OkStatus();
  }

  std::vector<TopicPartition> Assignment() override {
    rd_kafka_topic_partition_list_t* list = nullptr;
    if (rd_kafka_assignment(handle_, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    std::vector<TopicPartition> out = ToVector(list);
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  }

  absl::StatusOr<int64_t> HighWatermark(const std::string& topic,
                                        int32_t partition) override {
    // Only what the last fetch response said: a query to the broker would block the consume
    // loop (during an outage, far longer than its own timeout).
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_get_watermark_offsets(handle_, topic.c_str(), partition, &low, &high);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(absl::StrCat("watermarks of ", topic, "/", partition,
                                                 ": ", rd_kafka_err2str(err)));
    }
    if (high < 0) {
      return absl::NotFoundError(
          absl::StrCat("watermarks of ", topic, "/", partition, ": not fetched yet"));
    }
    return high;
  }

  absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> QueryWatermarks(
      const std::string& topic, const std::vector<int32_t>& partitions,
      absl::Duration timeout) override {
    std::vector<std::pair<int64_t, int64_t>> marks(partitions.size());
    if (partitions.empty()) return marks;
    const absl::Time deadline = absl::Now() + timeout;
    // ListOffsets by "timestamp": Kafka's -2 is the earliest retained offset, -1 the end.
    for (const int64_t which : {RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_END}) {
      rd_kafka_topic_partition_list_t* list =
          rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
      for (int32_t p : partitions) {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = which;
      }
      const int timeout_ms = static_cast<int>(
          std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now())));
      rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(handle_, list, timeout_ms);
      for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < list->cnt; ++i) {
        err = list->elems[i].err;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR || list->cnt != static_cast<int>(partitions.size())) {
        rd_kafka_topic_partition_list_destroy(list);
        return absl::UnavailableError(absl::StrCat("watermarks of ", partitions.size(),
                                                   " partitions of ", topic, ": ",
                                                   rd_kafka_err2str(err)));
      }
      // The list keeps the order it was built in.
      for (int i = 0; i < list->cnt; ++i) {
        (which == RD_KAFKA_OFFSET_BEGINNING ? marks[i].first : marks[i].second) =
            list->elems[i].offset;
      }
      rd_kafka_topic_partition_list_destroy(list);
    }
    return marks;
  }

  void Close() override {
    if (closed_ || handle_ == nullptr) return;
    closed_ = true;
    StopFetchWaker();
    ReleaseBatch();
    rd_kafka_consumer_close(handle_);
  }

 private:
  // librdkafka 2.1 added fetch.queue.backoff.ms: from that version on the consumer sets it
  // (Init) and runs no waker.
  static constexpr int kFetchQueueBackoffVersion = 0x020100ff;
  // How often the waker looks at the queue's length (a lock-free read).
  static constexpr absl::Duration kFetchWakerSample = absl::Milliseconds(10);

  // The fetch waker (FetchWakePolicy): wakes librdkafka's fetchers once the application has
  // drained the consumer queue to half of what it held. librdkafka 2.0 has no call that only
  // wakes a broker thread; a request to the broker does, so the waker asks each broker that
  // leads an assigned partition for its log end offsets (one ListOffsets request per broker,
  // answered from memory; the answer is not used). It runs on its own thread because that
  // call waits for the answer, and touches nothing the polling thread owns: librdkafka's
  // handle is thread-safe.
  void RunFetchWaker() {
    rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(handle_);
    if (queue == nullptr) return;  // not a consumer with a queue of its own: nothing to watch
    internal::FetchWakePolicy policy(WakeOptions());
    std::unique_lock<std::mutex> lock(waker_mu_);
    while (!waker_cv_.wait_for(lock, absl::ToChronoMilliseconds(kFetchWakerSample),
                               [this] { return waker_stop_; })) {
      const size_t mean_bytes = mean_record_bytes_.load(std::memory_order_relaxed);
      if (!policy.Sample(rd_kafka_queue_length(queue), mean_bytes, absl::Now())) continue;
      rd_kafka_topic_partition_list_t* list = nullptr;
      if (rd_kafka_assignment(handle_, &list) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      if (list->cnt > 0) {
        for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = RD_KAFKA_OFFSET_END;
        lock.unlock();  // Close() may stop the waker meanwhile: it waits for this call
        rd_kafka_offsets_for_times(handle_, list, /*timeout_ms=*/1000);
        lock.lock();
        fetch_wakeups_.fetch_add(1, std::memory_order_relaxed);
      }
      rd_kafka_topic_partition_list_destroy(list);
      policy.Woke(rd_kafka_queue_length(queue), absl::Now());
    }
    rd_kafka_queue_destroy(queue);
  }

  // The waker's sense of a full queue: an eighth of the bounds this consumer runs with
  // (queued.min.messages, queued.max.messages.kbytes: the defaults of Init, or -X); the
  // policy's own defaults if one cannot be read.
  internal::FetchWakePolicy::Options WakeOptions() const {
    internal::FetchWakePolicy::Options options;
    const rd_kafka_conf_t* conf = rd_kafka_conf(handle_);
    auto setting = [conf](const char* name) -> std::optional<size_t> {
      char value[64];
      size_t size = sizeof(value);
      size_t parsed = 0;
      if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK ||
          !absl::SimpleAtoi(value, &parsed)) {
        return std::nullopt;
      }
      return parsed;
    };
    if (std::optional<size_t> records = setting("queued.min.messages")) {
      options.min_peak_records = *records / 8;
    }
    if (std::optional<size_t> kbytes = setting("queued.max.messages.kbytes")) {
      options.min_peak_bytes = *kbytes * 1024 / 8;
    }
    return options;
  }

  void StopFetchWaker() {
    {
      std::lock_guard<std::mutex> lock(waker_mu_);
      waker_stop_ = true;
    }
    waker_cv_.notify_all();
    if (fetch_waker_.joinable()) fetch_waker_.join();
  }

  absl::Status AssignEverything(int timeout_ms) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
    for (const std::string& topic : options_.topics) {
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(handle_, topic.c_str(), nullptr);
      const rd_kafka_metadata_t* metadata = nullptr;
      rd_kafka_resp_err_t err = rd_kafka_metadata(handle_, 0, rkt, &metadata, timeout_ms);
      rd_kafka_topic_destroy(rkt);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR || metadata->topic_cnt != 1 ||
          metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
        rd_kafka_topic_partition_list_destroy(list);
        return absl::NotFoundError(absl::StrCat("topic ", topic, " is not available"));
      }
      for (int p = 0; p < metadata->topics[0].partition_cnt; ++p) {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
      }
      rd_kafka_metadata_destroy(metadata);
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(handle_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(absl::StrCat("assign: ", rd_kafka_err2str(err)));
    }
    return absl::OkStatus();
  }

  void ReleaseBatch() {
    for (rd_kafka_message_t* message : messages_) rd_kafka_message_destroy(message);
    messages_.clear();
    batch_.clear();
  }

  // A rebalance callback runs inside rd_kafka_consumer_poll, so the Poll() in progress may
  // already hold records of the partitions it takes away. Those records are the listener's no
  // more: OnRevoked commits what it applied, without them, and the partition's next owner
  // reads them from there. And if the same partition comes straight back (a lost assignment
  // rejoins at once), reading restarts where OnAssigned says: records collected before it,
  // handed out after it, would follow a gap and make the re-read ones look like duplicates.
  // (librdkafka drops what its own queue holds for them: it pauses the partitions first.)
  void DropCollected(const rd_kafka_topic_partition_list_t* partitions) {
    if (batch_.empty()) return;
    auto going = [partitions](const ConsumerRecord& r) {
      for (int i = 0; i < partitions->cnt; ++i) {
        const rd_kafka_topic_partition_t& tp = partitions->elems[i];
        if (tp.partition == r.partition && r.topic == tp.topic) return true;
      }
      return false;
    };
    size_t kept = 0;
    for (size_t i = 0; i < batch_.size(); ++i) {  // messages_[i] is batch_[i]'s message
      if (going(batch_[i])) {
        rd_kafka_message_destroy(messages_[i]);
        continue;
      }
      batch_[kept] = batch_[i];
      messages_[kept] = messages_[i];
      ++kept;
    }
    batch_.resize(kept);
    messages_.resize(kept);
  }

  void AddTransientError(std::string error) {
    if (transient_errors_.size() >= 16) transient_errors_.erase(transient_errors_.begin());
    transient_errors_.push_back(std::move(error));
  }

  static void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
    static_cast<RdKafkaConsumer*>(opaque)->AddTransientError(
        absl::StrCat(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), ": ", reason));
  }

  // Served on the polling thread, like OnError. While no known broker is up this reports an
  // error every interval, where librdkafka's own errors stop after the first of a kind.
  static int OnStatistics(rd_kafka_t*, char* json, size_t json_len, void* opaque) {
    absl::StatusOr<internal::BrokerStates> states =
        internal::ParseBrokerStates(std::string_view(json, json_len));
    if (states.ok() && states->brokers > 0 && states->up == 0) {
      static_cast<RdKafkaConsumer*>(opaque)->AddTransientError(
          absl::StrCat("no broker reachable (", states->brokers, " known: ", states->down, ")"));
    }
    return 0;  // librdkafka frees `json`
  }

  static void OnRebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<RdKafkaConsumer*>(opaque);
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      std::vector<TopicPartition> assigned = ToVector(partitions);
      for (TopicPartition& tp : assigned) tp.offset = kOffsetStored;
      if (self->options_.listener != nullptr) self->options_.listener->OnAssigned(&assigned);
      rd_kafka_topic_partition_list_t* list = ToList(assigned);
      if (cooperative) {
        rd_kafka_error_t* error = rd_kafka_incremental_assign(handle, list);
        if (error != nullptr) rd_kafka_error_destroy(error);
      } else {
        rd_kafka_assign(handle, list);
      }
      rd_kafka_topic_partition_list_destroy(list);
      return;
    }
    // Revocation: the listener flushes and commits first. A lost assignment: it must not.
    self->DropCollected(partitions);
    if (self->options_.listener != nullptr) {
      if (rd_kafka_assignment_lost(handle)) {
        self->options_.listener->OnLost(ToVector(partitions));
      } else {
        self->options_.listener->OnRevoked(ToVector(partitions));
      }
    }
    if (cooperative) {
      rd_kafka_error_t* error = rd_kafka_incremental_unassign(handle, partitions);
      if (error != nullptr) rd_kafka_error_destroy(error);
    } else {
      rd_kafka_assign(handle, nullptr);
    }
  }

  ConsumerOptions options_;
  rd_kafka_t* handle_ = nullptr;
  bool closed_ = false;
  std::vector<rd_kafka_message_t*> messages_;
  std::vector<ConsumerRecord> batch_;
  std::vector<std::string> transient_errors_;
  std::atomic<uint64_t> fetch_wakeups_{0};
  // Mean size (key and value) of the records of the last non-empty batch: the waker's
  // measure of the bytes its queue holds. Written by Poll, read by the waker.
  std::atomic<size_t> mean_record_bytes_{0};
  std::mutex waker_mu_;
  std::condition_variable waker_cv_;
  bool waker_stop_ = false;  // guarded by waker_mu_
  std::thread fetch_waker_;  // declared last: started after everything it reads
};

}  // namespace

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ClientConfig& config,
                                                           const ConsumerOptions& options,
                                                           absl::Duration connect_timeout) {
  if (options.topics.empty()) return absl::InvalidArgumentError("consumer: no topics");
  auto consumer = std::make_unique<RdKafkaConsumer>(options);
  if (absl::Status s = consumer->Init(config, connect_timeout); !s.ok()) return s;
  return consumer;
}

}  // namespace civicpulse::kafka
