#include "civicpulse/kafka/producer.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client_conf.h"

namespace civicpulse::kafka {
namespace {

// Outstanding deliveries of one ProduceAndWait() call. Each in-flight record holds a
// reference, so a caller that timed out can return while deliveries are still pending.
struct BatchTracker {
  absl::Mutex mu;
  int remaining ABSL_GUARDED_BY(mu) = 0;
  absl::Status first_error ABSL_GUARDED_BY(mu);
};

// A record too large for the cluster is the record's fault (ResourceExhausted), never an
// outage (Unavailable): a caller must not retry it, nor report itself unhealthy.
absl::Status ErrorOf(rd_kafka_resp_err_t err, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", rd_kafka_err2str(err));
  if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
      err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::UnavailableError(message);
}

class RdKafkaProducer final : public Producer {
 public:
  RdKafkaProducer() = default;
  ~RdKafkaProducer() override {
    if (handle_ != nullptr) {
      rd_kafka_flush(handle_, 5000);
      stop_.store(true);
      if (poller_.joinable()) poller_.join();
      rd_kafka_destroy(handle_);
    }
  }

  absl::Status Init(const ClientConfig& config, const ProducerOptions& options,
                    absl::Duration connect_timeout) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    absl::Status status = internal::ApplyConfig(
        conf, config,
        {{"enable.idempotence", options.idempotent ? "true" : "false"},
         {"acks", "all"},
         {"compression.type", options.compression},
         {"linger.ms", std::to_string(options.linger_ms)},
         {"message.timeout.ms",
          std::to_string(absl::ToInt64Milliseconds(options.message_timeout))},
         {"log_level", "3"}});
    if (!status.ok()) {
      rd_kafka_conf_destroy(conf);
      return status;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, &RdKafkaProducer::OnDelivery);
    rd_kafka_conf_set_opaque(conf, this);
    char errstr[512];
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (handle_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", errstr));
    }
    poller_ = std::thread([this] {
      while (!stop_.load()) rd_kafka_poll(handle_, 100);
    });
    return internal::AwaitCluster(
        handle_, static_cast<int>(absl::ToInt64Milliseconds(connect_timeout)), config);
  }

  absl::Status Produce(const ProducerRecord& record) override {
    return Send(record, nullptr);
  }

  absl::Status Flush(absl::Duration timeout) override {
    rd_kafka_resp_err_t err =
        rd_kafka_flush(handle_, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    absl::MutexLock lock(&mu_);
    absl::Status result = std::move(first_error_);
    first_error_ = absl::OkStatus();
    if (result.ok() && err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = absl::DeadlineExceededError(
          absl::StrCat("kafka flush: ", rd_kafka_err2str(err), " (",
                       rd_kafka_outq_len(handle_), " records still queued)"));
    }
    return result;
  }

  absl::Status ProduceAndWait(const std::vector<ProducerRecord>& records,
                              absl::Duration timeout) override {
    if (records.empty()) return absl::OkStatus();
    auto tracker = std::make_shared<BatchTracker>();
    {
      absl::MutexLock lock(&tracker->mu);
      tracker->remaining = static_cast<int>(records.size());
    }
    for (size_t i = 0; i < records.size(); ++i) {
      absl::Status s = Send(records[i], new std::shared_ptr<BatchTracker>(tracker));
      if (!s.ok()) {
        // Records not handed to librdkafka will never be delivered.
        absl::MutexLock lock(&tracker->mu);
        tracker->remaining -= static_cast<int>(records.size() - i);
        if (tracker->first_error.ok()) tracker->first_error = s;
        break;
      }
    }
    absl::MutexLock lock(&tracker->mu);
    auto done = [&tracker]() ABSL_SHARED_LOCKS_REQUIRED(tracker->mu) {
      return tracker->remaining == 0;
    };
    if (!tracker->mu.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "kafka did not acknowledge ", tracker->remaining, " of ", records.size(),
          " records within ", absl::FormatDuration(timeout)));
    }
    return tracker->first_error;
  }

  void Poll() override { rd_kafka_poll(handle_, 0); }

  absl::StatusOr<int> PartitionCount(std::string_view topic,
                                     absl::Duration timeout) override {
    std::string name(topic);
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(handle_, name.c_str(), nullptr);
    const rd_kafka_metadata_t* metadata = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(
        handle_, 0, rkt, &metadata, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("metadata for ", name, ": ", rd_kafka_err2str(err)));
    }
    int count = 0;
    absl::Status status;
    if (metadata->topic_cnt == 1) {
      if (metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = absl::NotFoundError(absl::StrCat(
            "topic ", name, ": ", rd_kafka_err2str(metadata->topics[0].err)));
      }
      count = metadata->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(metadata);
    if (!status.ok()) return status;
    return count;
  }

 private:
  absl::Status Send(const ProducerRecord& record, std::shared_ptr<BatchTracker>* opaque) {
    rd_kafka_headers_t* headers = nullptr;
    if (!record.headers.empty()) {
      headers = rd_kafka_headers_new(record.headers.size());
      for (const auto& [name, value] : record.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()),
                            value.data(), static_cast<ssize_t>(value.size()));
      }
    }
    std::string topic(record.topic);
    for (int attempt = 0;; ++attempt) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          handle_, RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_PARTITION(record.partition < 0 ? RD_KAFKA_PARTITION_UA
                                                    : record.partition),
          RD_KAFKA_V_KEY(const_cast<char*>(record.key.data()), record.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(record.value.data()), record.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempt < 100) {
        rd_kafka_poll(handle_, 50);  // let deliveries drain the queue
        continue;
      }
      if (headers != nullptr) rd_kafka_headers_destroy(headers);
      delete opaque;
      return ErrorOf(err, absl::StrCat("kafka produce to ", topic));
    }
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* self_ptr) {
    auto* self = static_cast<RdKafkaProducer*>(self_ptr);
    absl::Status status;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = ErrorOf(message->err, "kafka delivery failed");
    }
    if (message->_private != nullptr) {
      auto* holder = static_cast<std::shared_ptr<BatchTracker>*>(message->_private);
      {
        BatchTracker& tracker = **holder;
        absl::MutexLock lock(&tracker.mu);
        --tracker.remaining;
        if (!status.ok() && tracker.first_error.ok()) tracker.first_error = status;
      }
      delete holder;
      return;
    }
    if (!status.ok()) {
      absl::MutexLock lock(&self->mu_);
      if (self->first_error_.ok()) self->first_error_ = status;
    }
  }

  rd_kafka_t* handle_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread poller_;
  absl::Mutex mu_;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const ClientConfig& config,
                                                           const ProducerOptions& options,
                                                           absl::Duration connect_timeout) {
  auto producer = std::make_unique<RdKafkaProducer>();
  if (absl::Status s = producer->Init(config, options, connect_timeout); !s.ok()) return s;
  return producer;
}

}  // namespace civicpulse::kafka
