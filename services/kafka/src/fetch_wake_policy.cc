#include "fetch_wake_policy.h"

namespace civicpulse::kafka::internal {

bool FetchWakePolicy::Sample(size_t queued, size_t mean_record_bytes, absl::Time now) {
  if (queued >= peak_ || now - peak_at_ > options_.peak_memory) {
    peak_ = queued;
    peak_at_ = now;
  }
  const bool peak_was_full =
      peak_ >= options_.min_peak_records || peak_ * mean_record_bytes >= options_.min_peak_bytes;
  return peak_was_full && queued < peak_ / 2 && now - woke_at_ >= options_.min_interval;
}

void FetchWakePolicy::Woke(size_t queued, absl::Time now) {
  woke_at_ = now;
  peak_ = queued;
  peak_at_ = now;
}

}  // namespace civicpulse::kafka::internal
