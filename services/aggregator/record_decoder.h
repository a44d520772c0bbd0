// RecordDecoder: decodes the records of a consumed batch into events on a helper thread of its
// own, while the consume thread applies the records already decoded (RecordRouter). Decoding
// JSON is about a sixth of an aggregator's work per record (0.35 of 2.0 CPU s per million); on
// a machine with a second core it then overlaps applying (bench/README.md, "The consumer's
// queue, and decoding beside applying").
//
// The consume thread calls Start(batch), then Get(i) for i = 0, 1, ... (each waits until
// record i is decoded), then Finish() before the batch's records go away (Consumer::Poll).
// Records are decoded in offset order, each exactly as RecordRouter decoded them inline: a
// value starting with '{' is JSON, otherwise a `content-type: application/json` header says
// so (headers are parsed only then).
//
// With `threads` = 0, or for a batch shorter than kMinParallel, Start decodes the whole batch
// on the calling thread (a handover costs a wake-up; at a trickle there is nothing to overlap).
//
// Thread-compatible: one consume thread calls every method; the helper thread is internal.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/kafka/consumer.h"

namespace civicpulse::aggregator {

class RecordDecoder {
 public:
  struct Decoded {
    absl::Status status;
    core::Event event;  // its strings keep their capacity from batch to batch
  };

  // Batches shorter than this are decoded inline.
  static constexpr size_t kMinParallel = 256;
  // The helper thread publishes its progress every kChunk records.
  static constexpr size_t kChunk = 32;

  // `threads`: 1 starts the helper thread, 0 decodes inline only.
  explicit RecordDecoder(int threads);
  ~RecordDecoder();
  RecordDecoder(const RecordDecoder&) = delete;
  RecordDecoder& operator=(const RecordDecoder&) = delete;

  // Starts decoding `batch` (received at wall-clock `now_ms`); it must stay alive and unchanged
  // until Finish() returns. The previous batch must be finished.
  void Start(const std::vector<kafka::ConsumerRecord>& batch, int64_t now_ms);
  // Record i of the batch, decoded; waits for it. Valid until the next Start.
  const Decoded& Get(size_t i) {
    if (decoded_.load(std::memory_order_acquire) <= i) WaitFor(i);
    return slots_[i];
  }
  // Waits until the helper thread is done with the batch.
  void Finish();

  // Records decoded on the helper thread, for tests.
  uint64_t decoded_in_parallel() const { return parallel_.load(std::memory_order_relaxed); }

 private:
  void Decode(core::EventCodec& codec, size_t i);
  void WaitFor(size_t i);
  void Loop();

  const std::vector<kafka::ConsumerRecord>* batch_ = nullptr;
  int64_t now_ms_ = 0;
  std::vector<Decoded> slots_;  // batch[i] in slots_[i]; grows, never shrinks
  core::EventCodec inline_codec_;
  core::EventCodec thread_codec_;  // the helper thread's
  // Records of the current batch decoded (slots_[0, decoded_) are ready), published by the
  // helper thread every kChunk records. 32-bit, like generation_: what std::atomic's wait and
  // notify map straight onto a futex (notify makes no system call while no one waits).
  std::atomic<uint32_t> decoded_{0};
  // Bumped by Start to hand a batch to the helper thread; it waits on it.
  std::atomic<uint32_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> parallel_{0};
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace civicpulse::aggregator
