#include "dead_letters.h"

#include <openssl/sha.h>

#include <algorithm>
#include <optional>

#include "absl/strings/escaping.h"
#include "civicpulse/core/event_codec.h"

namespace civicpulse::aggregator {
namespace {

// Room left for the key, headers and Kafka's record framing under the record size limit.
constexpr size_t kOverheadBytes = 4096;

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace

DeadLetterQueue::DeadLetterQueue(std::string topic, size_t max_record_bytes,
                                 AggregatorMetrics* metrics)
    : topic_(std::move(topic)),
      max_record_bytes_(std::max<size_t>(max_record_bytes, 2 * kOverheadBytes)),
      metrics_(metrics) {}

void DeadLetterQueue::Add(const kafka::ConsumerRecord& record, const absl::Status& status) {
  core::Rejection rejection = core::RejectionOf(status);
  Letter& letter = letters_.emplace_back();
  const size_t limit = max_record_bytes_ - kOverheadBytes;
  letter.key = std::string(record.key.substr(0, std::min<size_t>(record.key.size(), 1024)));
  letter.value = std::string(record.value.substr(0, std::min(record.value.size(), limit)));
  letter.headers.emplace_back("error", std::move(rejection.reason));
  if (rejection.detail.size() > 1024) rejection.detail.resize(1024);
  letter.headers.emplace_back("error-detail", std::move(rejection.detail));
  if (std::optional<std::string_view> type = record.Header("content-type")) {
    letter.headers.emplace_back("content-type", std::string(type->substr(0, 256)));
  }
  if (record.value.size() > limit || record.key.size() > 1024) {
    letter.headers.emplace_back("truncated", "true");
    letter.headers.emplace_back("original-size", std::to_string(record.value.size()));
    letter.headers.emplace_back("original-sha256", Sha256Hex(record.value));
    metrics_->dlq_truncated.Increment();
  }
  metrics_->dlq_pending.Set(static_cast<double>(letters_.size()));
}

absl::Status DeadLetterQueue::Produce(kafka::Producer* producer) {
  absl::Status first;
  for (Letter& letter : letters_) {
    if (letter.sent) continue;
    absl::Status s = producer->Produce(
        {.topic = topic_, .key = letter.key, .value = letter.value, .headers = letter.headers});
    if (!s.ok()) {
      if (first.ok()) first = s;
      continue;
    }
    letter.sent = true;
  }
  return first;
}

void DeadLetterQueue::Retry() {
  for (Letter& letter : letters_) letter.sent = false;
}

void DeadLetterQueue::Acknowledge() {
  const size_t before = letters_.size();
  letters_.erase(std::remove_if(letters_.begin(), letters_.end(),
                                [](const Letter& l) { return l.sent; }),
                 letters_.end());
  metrics_->dlq_records.Increment(static_cast<double>(before - letters_.size()));
  metrics_->dlq_pending.Set(static_cast<double>(letters_.size()));
}

}  // namespace civicpulse::aggregator
