// FetchWakePolicy: decides, from samples of a consumer's local queue length, when
// librdkafka's fetcher has stopped and should be woken.
//
// Why: librdkafka 2.0 (Debian 12's) stops fetching a partition once the consumer's queue
// holds queued.max.messages.kbytes (or queued.min.messages), and decides again only when its
// broker thread next wakes: up to a second later, whatever the application has drained
// meanwhile (fetch.queue.backoff.ms, from 2.1 on, shortens that wait). So the queue had to
// hold a second of records to keep a fast consumer busy: about 265 MB of librdkafka's memory
// at 280 k records/s (bench/README.md, "The consumer's queue, woken"). With a wake-up when
// the queue has drained to half of what it last held, a small queue keeps up instead.
//
// The policy wakes when the queue has fallen below half of its recent peak (the most it
// held since the last wake-up, or within `peak_memory`), that peak came near one of the
// queue's bounds (at least `min_peak_records` records, or `min_peak_bytes` at the records'
// mean size: a consumer that keeps up holds next to nothing and never needs one), and the
// last wake-up is at least `min_interval` ago (a wake-up is a request to each broker).
// Both bounds count: the exporter's records are aggregates of 100-500 KB, so its queue
// fills its bytes with a few dozen records, and a peak counted in records alone never
// looked full (each fetch then waited up to a second: bench/README.md, "Freshness: the
// harness's producer, and the exporter's fetcher").
//
// Pure: time is passed in. Thread-compatible.
#pragma once

#include <cstddef>

#include "absl/time/time.h"

namespace civicpulse::kafka::internal {

class FetchWakePolicy {
 public:
  struct Options {
    // An eighth of the consumer's defaults (queued.min.messages 1,000,000 and
    // queued.max.messages.kbytes 8192); the consumer sets them from its own settings.
    size_t min_peak_records = 125'000;
    size_t min_peak_bytes = size_t{1} << 20;
    absl::Duration min_interval = absl::Milliseconds(50);
    absl::Duration peak_memory = absl::Seconds(2);
  };

  FetchWakePolicy() : FetchWakePolicy(Options{}) {}
  explicit FetchWakePolicy(const Options& options) : options_(options) {}

  // Records that the queue holds `queued` records of `mean_record_bytes` on average at
  // `now`; true when the fetcher should be woken now (the caller then wakes it and calls
  // Woke).
  bool Sample(size_t queued, size_t mean_record_bytes, absl::Time now);
  // Records a wake-up at `now`, after which the queue held `queued` records.
  void Woke(size_t queued, absl::Time now);

 private:
  Options options_;
  size_t peak_ = 0;
  absl::Time peak_at_ = absl::InfinitePast();
  absl::Time woke_at_ = absl::InfinitePast();
};

}  // namespace civicpulse::kafka::internal
