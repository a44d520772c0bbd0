#include "civicpulse/runtime/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace civicpulse::runtime {
namespace {

// std::mutex, not absl::Mutex: ThreadSanitizer sees it (tsan.supp).
struct Throttle {
  std::mutex mu;
  int per_minute = 10;                                // guarded by mu
  absl::Time window_start = absl::InfinitePast();     // guarded by mu
  int in_window = 0;                                  // guarded by mu
  int64_t unreported = 0;                             // guarded by mu
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
    std::lock_guard<std::mutex> lock(t.mu);
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
    std::lock_guard<std::mutex> lock(TheThrottle().mu);
    TheThrottle().per_minute = per_minute;
  }
  google::protobuf::SetLogHandler(&Handle);
}

int64_t SuppressedProtobufLogLines() { return TheThrottle().suppressed.load(); }

}  // namespace civicpulse::runtime
