// SimulatorApp: civicpulse-simulator's run loop. Wires the pure TrafficModel to a sink
// (Kafka, keyed by area, JSON with a content-type header or protobuf; or NDJSON on stdout),
// serves /metrics and /healthz, first replays the configured history as fast as the sink
// accepts, then follows the wall clock so that no event time is ever ahead of it.
// Runs until --count events, the --end time, SIGINT/SIGTERM (flushes, then returns OK) or a
// sink failure (returns it). Single-threaded apart from the HTTP server.
#pragma once

#include "absl/status/status.h"
#include "config.h"

namespace civicpulse::simulator {

// `config` must have passed Finish().
absl::Status RunSimulator(const SimulatorConfig& config);

}  // namespace civicpulse::simulator
