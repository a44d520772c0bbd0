// RunIngest: wires civicpulse-ingest together — the Kafka producer (idempotent,
// acks=all) behind a KafkaEventSink, the pseudonymizer, metrics, and the HTTP
// server with the API, /metrics and /healthz — and serves until SIGINT/SIGTERM,
// then stops taking requests and flushes. Errors come back as Status for main
// to print (InvalidArgument: a bad -X setting).
#pragma once

#include "absl/status/status.h"
#include "config.h"

namespace civicpulse::ingest {

absl::Status RunIngest(IngestConfig& config);

}  // namespace civicpulse::ingest
