// IngestService: the HTTP API of civicpulse-ingest (README.md):
//   POST /v1/events                       one JSON event, a JSON array, or
//   NDJSON POST /v1/open311/requests             GeoReport v2 service requests
//   (JSON array) POST /v1/imports/csv?kind=recycling|volunteer_shift   CSV with
//   a header row
// Each request: bearer token -> source (401 when missing or unknown; without a
// tokens file every request is the default source), checked with the Content-Type on the
// headers before the server reads the body (Register), body -> Batch (400 when
// unreadable, 403 when the token's scope (source_tokens.h) excludes the route or
// the CSV kind, 413 when over the record limit, 415 for an unsupported
// Content-Type), records -> EventSink, then 202 with the per-record verdicts —
// only after Kafka acknowledged every record (events and dead letters). When
// Kafka does not acknowledge within the produce timeout: 503 with Retry-After,
// and nothing is acknowledged.
//
// Thread-safe: handlers run concurrently on the HTTP server's workers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "batch.h"
#include "civicpulse/core/open311.h"
#include "civicpulse/runtime/http_server.h"
#include "event_sink.h"
#include "ingest_metrics.h"
#include "pseudonymizer.h"
#include "source_tokens.h"

namespace civicpulse::ingest {

struct IngestOptions {
  // The source of every request when there is no tokens file.
  std::string default_source = "local";
  size_t max_records = 10000;
  int max_json_depth = 16;
  absl::Duration produce_timeout = absl::Seconds(5);
  int retry_after_seconds = 5;
  // Null: POST /v1/open311/requests answers 404 (no --open311-config).
  const core::Open311Mapping* open311 = nullptr;
  absl::TimeZone csv_time_zone = absl::UTCTimeZone();
  // The areas file (BatchContext::is_known_area); empty without one.
  std::function<bool(std::string_view)> is_known_area;
  // Milliseconds since the epoch; the wall clock when empty.
  std::function<int64_t()> now_ms;
};

class IngestService {
 public:
  // `tokens` may be null (no tokens file); the others must outlive the service.
  IngestService(IngestOptions options, const SourceTokens* tokens,
                const Pseudonymizer* pseudonymizer, EventSink* sink,
                IngestMetrics* metrics);

  // Adds the API routes (not /metrics or /healthz) to `server`.
  void Register(runtime::HttpServer* server);

  void PostEvents(const runtime::HttpRequest& request,
                  runtime::HttpResponse* response);
  void PostOpen311(const runtime::HttpRequest& request,
                   runtime::HttpResponse* response);
  void PostCsv(const runtime::HttpRequest& request,
               runtime::HttpResponse* response);

  // Unhealthy when the latest write to Kafka failed, for retry_after_seconds after it.
  runtime::Health health() const;

 private:
  using Build = std::function<absl::StatusOr<Batch>(const BatchContext&)>;
  void Serve(Route route, const runtime::HttpRequest& request,
             runtime::HttpResponse* response, const Build& build);
  // The server's HeaderCheck: token and RouteCheck on the headers, before the body.
  bool CheckHeaders(Route route, const runtime::HttpRequest& request,
                    runtime::HttpResponse* response);
  // What a route needs of the headers and query (Content-Type, parameters).
  absl::Status RouteCheck(Route route, const runtime::HttpRequest& request) const;
  std::optional<SourceTokens::Grant> Authenticate(const runtime::HttpRequest& request) const;
  // The token's scope: its routes, and for CSV the kind (403 otherwise).
  absl::Status ScopeCheck(Route route, const SourceTokens::Grant& grant,
                          const runtime::HttpRequest& request) const;

  IngestOptions options_;
  const SourceTokens* tokens_;
  const Pseudonymizer* pseudonymizer_;
  EventSink* sink_;
  IngestMetrics* metrics_;
  mutable absl::Mutex mu_;
  std::string kafka_error_ ABSL_GUARDED_BY(mu_);
  int64_t kafka_error_at_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace civicpulse::ingest
