#include "civicpulse/runtime/shutdown.h"

#include <csignal>

#include "absl/synchronization/notification.h"

namespace civicpulse::runtime {
namespace {

volatile std::sig_atomic_t g_signalled = 0;

void OnSignal(int) { g_signalled = 1; }

}  // namespace

void InstallShutdownHandlers() {
  struct sigaction action = {};
  action.sa_handler = &OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool ShutdownRequested() { return g_signalled != 0; }

void RequestShutdown() { g_signalled = 1; }

bool WaitForShutdown(absl::Duration timeout) {
  // Signal handlers cannot notify a condition variable safely; poll the flag finely.
  const absl::Time deadline = absl::Now() + timeout;
  while (!ShutdownRequested()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    absl::SleepFor(std::min(left, absl::Milliseconds(20)));
  }
  return true;
}

}  // namespace civicpulse::runtime
