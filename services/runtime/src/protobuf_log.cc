#include "civicpulse/runtime/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <atomic>
#include <iostream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace civicpulse::runtime {
namespace {

struct Throttle {
  absl::Mutex mu;
  int per_minute ABSL_GUARDED_BY(mu) = 10;
  absl::Time window_start ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  int in_window ABSL_GUARDED_BY(mu) = 0;
  int64_t unreported ABSL_GUARDED_BY(mu) = 0;
  std::atomic<int64_t> suppressed{0};
};

Throttle& TheThrottle() {
  static auto* throttle = new Throttle;
  return *throttle;
}

void Handle(google::protobuf::LogLevel level, const char* filename, int line,
            const std::string& message) {
  Throttle& t = TheThrottle();
  int64_t unreported = 0;
  {
    absl::MutexLock lock(&t.mu);
    const absl::Time now = absl::Now();
    if (now - t.window_start >= absl::Minutes(1)) {
      t.window_start = now;
      t.in_window = 0;
    }
    if (level != google::protobuf::LOGLEVEL_FATAL && t.in_window >= t.per_minute) {
      ++t.unreported;
      t.suppressed.fetch_add(1);
      return;
    }
    ++t.in_window;
    unreported = t.unreported;
    t.unreported = 0;
  }
  if (unreported > 0) {
    std::cerr << "[libprotobuf] " << unreported << " more libprotobuf messages suppressed\n";
  }
  std::cerr << "[libprotobuf " << filename << ":" << line << "] " << message << std::endl;
}

}  // namespace

void ThrottleProtobufLog(int per_minute) {
  {
    absl::MutexLock lock(&TheThrottle().mu);
    TheThrottle().per_minute = per_minute;
  }
  google::protobuf::SetLogHandler(&Handle);
}

int64_t SuppressedProtobufLogLines() { return TheThrottle().suppressed.load(); }

}  // namespace civicpulse::runtime
