#include "ingest_metrics.h"

#include "batch.h"

#include "civicpulse/core/areas.h"
#include "civicpulse/core/csv_import.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/open311.h"

namespace civicpulse::ingest {
namespace {

constexpr std::array<std::string_view, kOutcomeCount> kOutcomeNames = {
    "accepted", "rejected", "failed"};
constexpr std::string_view kOtherReason = "other";

const std::vector<std::string_view>& Reasons() {
  static const auto* reasons =
      new std::vector<std::string_view>{core::kReasonInvalidJson,
                                        core::kReasonNotAnObject,
                                        core::kReasonMissingField,
                                        core::kReasonWrongType,
                                        core::kReasonInvalidValue,
                                        core::kReasonOutOfRange,
                                        core::kReasonInvalidTimestamp,
                                        core::kReasonFutureTimestamp,
                                        core::kReasonInvalidUtf8,
                                        core::kReasonTooLarge,
                                        core::kReasonUnmappedArea,
                                        core::kReasonUnknownArea,
                                        kReasonKindNotAllowed,
                                        core::kReasonInvalidCsv,
                                        kOtherReason};
  return *reasons;
}

}  // namespace

std::string_view RouteName(Route route) {
  static constexpr std::array<std::string_view, kRouteCount> kNames = {
      "events", "open311", "csv"};
  return kNames[static_cast<int>(route)];
}

const std::vector<int>& IngestMetrics::Codes() {
  static const auto* codes =
      new std::vector<int>{202, 400, 401, 403, 404, 405, 413, 415, 503};
  return *codes;
}

IngestMetrics::IngestMetrics(prometheus::Registry& registry,
                             const std::vector<std::string>& sources) {
  auto& events = prometheus::BuildCounter()
                     .Name("civicpulse_ingest_events_total")
                     .Help(
                         "Input records by source, kind and outcome (accepted: "
                         "on the events "
                         "topic; rejected: on the dead-letter topic; failed: "
                         "not acknowledged "
                         "by Kafka in time, answered 503)")
                     .Register(registry);
  for (const std::string& source : sources) {
    SourceCounters& counters = events_[source];
    for (int k = 0; k < 4; ++k) {
      const std::string kind =
          k < core::kKindCount
              ? std::string(core::KindName(static_cast<core::Kind>(k + 1)))
              : "unknown";
      for (int o = 0; o < kOutcomeCount; ++o) {
        counters[k][o] =
            &events.Add({{"source", source},
                         {"kind", kind},
                         {"outcome", std::string(kOutcomeNames[o])}});
      }
    }
  }
  auto& rejected = prometheus::BuildCounter()
                       .Name("civicpulse_ingest_rejected_events_total")
                       .Help(
                           "Rejected input records by reason code (see the DLQ "
                           "header error)")
                       .Register(registry);
  for (const std::string_view reason : Reasons()) {
    rejected_[std::string(reason)] =
        &rejected.Add({{"reason", std::string(reason)}});
  }
  auto& requests = prometheus::BuildCounter()
                       .Name("civicpulse_ingest_requests_total")
                       .Help("API requests by route and HTTP status code")
                       .Register(registry);
  auto& duration =
      prometheus::BuildHistogram()
          .Name("civicpulse_ingest_request_duration_seconds")
          .Help(
              "Time from a request's arrival to its answer, by route (includes "
              "waiting for Kafka's acknowledgement)")
          .Register(registry);
  auto& records = prometheus::BuildHistogram()
                      .Name("civicpulse_ingest_request_records")
                      .Help("Input records per API request, by route")
                      .Register(registry);
  const prometheus::Histogram::BucketBoundaries duration_buckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  const prometheus::Histogram::BucketBoundaries record_buckets = {1, 10, 100,
                                                                  1000, 10000};
  for (int r = 0; r < kRouteCount; ++r) {
    const std::string route(RouteName(static_cast<Route>(r)));
    for (const int code : Codes()) {
      requests_[r][code] =
          &requests.Add({{"route", route}, {"code", std::to_string(code)}});
    }
    duration_[r] = &duration.Add({{"route", route}}, duration_buckets);
    records_[r] = &records.Add({{"route", route}}, record_buckets);
  }
}

void IngestMetrics::CountEvents(const std::string& source,
                                std::optional<core::Kind> kind, Outcome outcome,
                                double n) {
  if (n <= 0) return;
  auto it = events_.find(source);
  if (it == events_.end())
    return;  // cannot happen: every source is pre-created
  const int k = kind ? static_cast<int>(*kind) - 1 : 3;
  it->second[k][static_cast<int>(outcome)]->Increment(n);
}

void IngestMetrics::CountRejected(std::string_view reason) {
  auto it = rejected_.find(reason);
  if (it == rejected_.end()) it = rejected_.find(kOtherReason);
  it->second->Increment();
}

void IngestMetrics::ObserveRequest(Route route, int http_status, double seconds,
                                   size_t records) {
  const int r = static_cast<int>(route);
  if (auto it = requests_[r].find(http_status); it != requests_[r].end())
    it->second->Increment();
  duration_[r]->Observe(seconds);
  if (records > 0) records_[r]->Observe(static_cast<double>(records));
}

}  // namespace civicpulse::ingest
