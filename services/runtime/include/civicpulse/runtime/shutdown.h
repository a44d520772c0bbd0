// Shutdown: turns SIGINT/SIGTERM into a flag the main loops poll, so every binary stops
// cleanly (flush, commit, leave the group) instead of dying mid-write.
#pragma once

#include "absl/time/time.h"

namespace civicpulse::runtime {

// Installs the handlers; call once at start-up.
void InstallShutdownHandlers();
bool ShutdownRequested();
// Sleeps up to `timeout`, returning early (true) when shutdown was requested.
bool WaitForShutdown(absl::Duration timeout);
// Requests shutdown from code (tests, fatal errors on another thread).
void RequestShutdown();

}  // namespace civicpulse::runtime
