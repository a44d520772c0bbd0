#include "record_decoder.h"

#include <algorithm>
#include <optional>

namespace civicpulse::aggregator {

RecordDecoder::RecordDecoder(int threads) {
  if (threads > 0) thread_ = std::thread([this] { Loop(); });
}

RecordDecoder::~RecordDecoder() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_one();
  thread_.join();
}

void RecordDecoder::Decode(core::EventCodec& codec, size_t i) {
  const kafka::ConsumerRecord& record = (*batch_)[i];
  Decoded& slot = slots_[i];
  // A value starting with '{' is JSON whatever the headers say; only look them up otherwise
  // (header parsing is the costlier part).
  bool json_hint = false;
  if (record.value.empty() || record.value.front() != '{') {
    std::optional<std::string_view> type = record.Header("content-type");
    json_hint = type.has_value() && type->starts_with("application/json");
  }
  slot.status = codec.Decode(record.value, core::Encoding::kAuto, now_ms_, &slot.event, json_hint);
}

void RecordDecoder::Start(const std::vector<kafka::ConsumerRecord>& batch, int64_t now_ms) {
  batch_ = &batch;
  now_ms_ = now_ms;
  if (slots_.size() < batch.size()) slots_.resize(batch.size());
  if (!thread_.joinable() || batch.size() < kMinParallel) {
    for (size_t i = 0; i < batch.size(); ++i) Decode(inline_codec_, i);
    decoded_.store(static_cast<uint32_t>(batch.size()), std::memory_order_relaxed);
    return;
  }
  decoded_.store(0, std::memory_order_relaxed);
  // Release: the helper thread sees batch_, now_ms_ and slots_ as set above.
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_one();
}

void RecordDecoder::WaitFor(size_t i) {
  for (uint32_t seen = decoded_.load(std::memory_order_acquire); seen <= i;
       seen = decoded_.load(std::memory_order_acquire)) {
    decoded_.wait(seen, std::memory_order_acquire);  // spins briefly, then sleeps
  }
}

void RecordDecoder::Finish() {
  if (batch_ == nullptr) return;
  if (!batch_->empty()) WaitFor(batch_->size() - 1);
  batch_ = nullptr;
}

void RecordDecoder::Loop() {
  uint32_t seen = 0;
  for (;;) {
    generation_.wait(seen, std::memory_order_acquire);
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_acquire)) return;
    const size_t n = batch_->size();
    for (size_t i = 0; i < n;) {
      const size_t end = std::min(n, i + kChunk);
      for (; i < end; ++i) Decode(thread_codec_, i);
      // The batch's last store is this thread's last touch of it: Finish may return after it.
      decoded_.store(static_cast<uint32_t>(i), std::memory_order_release);
      decoded_.notify_one();
    }
    parallel_.fetch_add(n, std::memory_order_relaxed);
  }
}

}  // namespace civicpulse::aggregator
