// IngestMetrics: every series civicpulse-ingest exports (docs/reference.md, "Pipeline
// health"):
//   civicpulse_ingest_events_total{source,kind,outcome}   input records by
//   verdict:
//       outcome accepted (on the events topic), rejected (on the DLQ), failed
//       (Kafka did not acknowledge in time: answered 503, nothing acknowledged)
//   civicpulse_ingest_rejected_events_total{reason}       rejections by reason
//   code civicpulse_ingest_requests_total{route,code}          API requests by
//   HTTP status civicpulse_ingest_request_duration_seconds{route} histogram,
//   request received to answer civicpulse_ingest_request_records{route}
//   histogram, input records per request
// Labels are bounded: source from the tokens file, kind the enum plus
// "unknown", reason the fixed set of codes ("other" for anything else), route
// events|open311|csv, code a fixed set. Every series exists from start-up
// (zero), so rates and alerts see it at once.
//
// Built once at start-up (where prometheus-cpp may throw); afterwards
// thread-safe and never failing. No participant id, token or request content
// ever becomes a label.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "civicpulse/core/event.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace civicpulse::ingest {

enum class Route { kEvents = 0, kOpen311 = 1, kCsv = 2 };
inline constexpr int kRouteCount = 3;
std::string_view RouteName(Route route);

enum class Outcome { kAccepted = 0, kRejected = 1, kFailed = 2 };
inline constexpr int kOutcomeCount = 3;

class IngestMetrics {
 public:
  // `sources`: every source name a request can have.
  IngestMetrics(prometheus::Registry& registry,
                const std::vector<std::string>& sources);

  void CountEvents(const std::string& source, std::optional<core::Kind> kind,
                   Outcome outcome, double n);
  void CountRejected(std::string_view reason);
  void ObserveRequest(Route route, int http_status, double seconds,
                      size_t records);

  // The HTTP statuses the API answers with (requests_total's code label).
  static const std::vector<int>& Codes();

 private:
  // [kind 0..3 (3 = unknown)][outcome]
  using SourceCounters =
      std::array<std::array<prometheus::Counter*, kOutcomeCount>, 4>;
  std::map<std::string, SourceCounters, std::less<>> events_;
  std::map<std::string, prometheus::Counter*, std::less<>> rejected_;
  std::array<std::map<int, prometheus::Counter*>, kRouteCount> requests_;
  std::array<prometheus::Histogram*, kRouteCount> duration_;
  std::array<prometheus::Histogram*, kRouteCount> records_;
};

}  // namespace civicpulse::ingest
