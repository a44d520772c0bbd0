#include "service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "civicpulse/core/event_codec.h"

namespace civicpulse::ingest {
namespace {

// The media type of a Content-Type header, lowercased, without parameters.
std::string MediaType(const runtime::HttpRequest& request) {
  std::string type = request.header("Content-Type");
  if (const size_t semicolon = type.find(';'); semicolon != std::string::npos) {
    type.resize(semicolon);
  }
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(type));
}

bool IsNdjson(const std::string& type) {
  return type == "application/x-ndjson" || type == "application/ndjson" ||
         type == "application/jsonl" || type == "application/x-jsonlines";
}

bool IsJson(const std::string& type) {
  return type.empty() || type == "application/json";
}

std::string ErrorJson(absl::string_view message) {
  std::string out = "{\"error\":\"";
  for (const char c : message) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
  }
  out.append("\"}\n");
  return out;
}

void Answer(runtime::HttpResponse* response, int status, std::string body) {
  response->status = status;
  response->content_type = "application/json";
  response->body = std::move(body);
}

void AnswerUnauthorized(runtime::HttpResponse* response) {
  Answer(response, 401,
         ErrorJson("missing or unknown bearer token (Authorization: Bearer <token> from the "
                   "tokens file)"));
  response->headers.emplace("WWW-Authenticate", "Bearer realm=\"civicpulse-ingest\"");
}

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnimplemented:
      return 415;
    case absl::StatusCode::kNotFound:
      return 404;
    default:
      return 400;
  }
}

}  // namespace

IngestService::IngestService(IngestOptions options, const SourceTokens* tokens,
                             const Pseudonymizer* pseudonymizer,
                             EventSink* sink, IngestMetrics* metrics)
    : options_(std::move(options)),
      tokens_(tokens),
      pseudonymizer_(pseudonymizer),
      sink_(sink),
      metrics_(metrics) {
  if (!options_.now_ms)
    options_.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
}

void IngestService::Register(runtime::HttpServer* server) {
  // Each route's HeaderCheck refuses a request on its headers (token, Content-Type,
  // parameters), before the server reads a byte of its body.
  auto check = [this](Route route) {
    return [this, route](const runtime::HttpRequest& request, runtime::HttpResponse* response) {
      return CheckHeaders(route, request, response);
    };
  };
  server->Post(
      "/v1/events",
      [this](const runtime::HttpRequest& request, runtime::HttpResponse* response) {
        PostEvents(request, response);
      },
      check(Route::kEvents));
  server->Post(
      "/v1/open311/requests",
      [this](const runtime::HttpRequest& request, runtime::HttpResponse* response) {
        PostOpen311(request, response);
      },
      check(Route::kOpen311));
  server->Post(
      "/v1/imports/csv",
      [this](const runtime::HttpRequest& request, runtime::HttpResponse* response) {
        PostCsv(request, response);
      },
      check(Route::kCsv));
}

absl::Status IngestService::RouteCheck(Route route, const runtime::HttpRequest& request) const {
  const std::string type = MediaType(request);
  switch (route) {
    case Route::kEvents:
      if (IsNdjson(type) || IsJson(type)) return absl::OkStatus();
      return absl::UnimplementedError(
          "Content-Type is not supported: use application/json (an object or an array) or "
          "application/x-ndjson");
    case Route::kOpen311:
      if (options_.open311 == nullptr) {
        return absl::NotFoundError(
            "Open311 import is not configured: start civicpulse-ingest with --open311-config");
      }
      if (IsJson(type)) return absl::OkStatus();
      return absl::UnimplementedError("Content-Type is not supported: use application/json");
    case Route::kCsv: {
      std::string kind_name;
      if (auto it = request.params.find("kind"); it != request.params.end()) {
        kind_name = it->second;
      }
      if (kind_name != "recycling" && kind_name != "volunteer_shift") {
        return absl::InvalidArgumentError(
            "query parameter kind must be recycling or volunteer_shift");
      }
      if (type.empty() || type == "text/csv" || type == "application/csv" ||
          type == "text/plain") {
        return absl::OkStatus();
      }
      return absl::UnimplementedError("Content-Type is not supported: use text/csv");
    }
  }
  return absl::OkStatus();
}

absl::Status IngestService::ScopeCheck(Route route, const SourceTokens::Grant& grant,
                                      const runtime::HttpRequest& request) const {
  if (!grant.AllowsRoute(static_cast<int>(route))) {
    return absl::PermissionDeniedError("this token may not post to this route");
  }
  if (route == Route::kCsv) {
    const auto it = request.params.find("kind");
    const std::string kind = it == request.params.end() ? "" : it->second;
    if ((kind == "recycling" && !grant.AllowsKind(static_cast<int>(core::Kind::kRecycling))) ||
        (kind == "volunteer_shift" &&
         !grant.AllowsKind(static_cast<int>(core::Kind::kVolunteerShift)))) {
      return absl::PermissionDeniedError("this token may not post this kind");
    }
  }
  return absl::OkStatus();
}

bool IngestService::CheckHeaders(Route route, const runtime::HttpRequest& request,
                                 runtime::HttpResponse* response) {
  const absl::Time start = absl::Now();
  const std::optional<SourceTokens::Grant> grant = Authenticate(request);
  if (!grant) {
    AnswerUnauthorized(response);
  } else if (absl::Status s = ScopeCheck(route, *grant, request); !s.ok()) {
    Answer(response, 403, ErrorJson(s.message()));
  } else if (absl::Status s = RouteCheck(route, request); !s.ok()) {
    Answer(response, HttpStatusOf(s), ErrorJson(s.message()));
  } else {
    return true;
  }
  metrics_->ObserveRequest(route, response->status,
                           absl::ToDoubleSeconds(absl::Now() - start), 0);
  return false;
}

std::optional<SourceTokens::Grant> IngestService::Authenticate(
    const runtime::HttpRequest& request) const {
  if (tokens_ == nullptr) return SourceTokens::Grant{.source = options_.default_source};
  const std::string header = request.header("Authorization");
  constexpr absl::string_view kBearer = "bearer ";
  if (header.size() <= kBearer.size() ||
      absl::AsciiStrToLower(
          absl::string_view(header).substr(0, kBearer.size())) != kBearer) {
    return std::nullopt;
  }
  return tokens_->Lookup(std::string(absl::StripAsciiWhitespace(
      absl::string_view(header).substr(kBearer.size()))));
}

void IngestService::Serve(Route route, const runtime::HttpRequest& request,
                          runtime::HttpResponse* response, const Build& build) {
  const absl::Time start = absl::Now();
  size_t records = 0;
  [&] {
    const std::optional<SourceTokens::Grant> grant = Authenticate(request);
    if (!grant) {
      AnswerUnauthorized(response);
      return;
    }
    if (absl::Status s = ScopeCheck(route, *grant, request); !s.ok()) {
      Answer(response, 403, ErrorJson(s.message()));
      return;
    }
    const std::string* source = &grant->source;
    if (absl::Status s = RouteCheck(route, request); !s.ok()) {
      Answer(response, HttpStatusOf(s), ErrorJson(s.message()));
      return;
    }
    const BatchContext context{.source = *source,
                               .now_ms = options_.now_ms(),
                               .pseudonymizer = pseudonymizer_,
                               .max_records = options_.max_records,
                               .max_json_depth = options_.max_json_depth,
                               .open311 = options_.open311,
                               .csv_time_zone = options_.csv_time_zone,
                               .is_known_area = options_.is_known_area,
                               .allowed_kinds = grant->kinds};
    absl::StatusOr<Batch> batch = build(context);
    if (!batch.ok()) {
      Answer(response, HttpStatusOf(batch.status()),
             ErrorJson(batch.status().message()));
      return;
    }
    records =
        static_cast<size_t>(batch->accepted_total()) + batch->rejected.size();
    if (!batch->records.empty()) {
      const absl::Status written =
          sink_->Write(batch->records, options_.produce_timeout);
      if (absl::IsResourceExhausted(written)) {
        // A record larger than Kafka takes: the client's fault, not an outage, so no 503
        // and no unhealthy /healthz (batches are cut to fit; this is the last line).
        for (const RejectedRecord& r : batch->rejected) {
          metrics_->CountEvents(*source, r.kind, Outcome::kRejected, 1);
        }
        metrics_->CountRejected(core::kReasonTooLarge);
        Answer(response, 413,
               ErrorJson("a record of this request is larger than Kafka accepts; nothing of "
                         "this request is acknowledged (too_large)"));
        return;
      }
      {
        absl::MutexLock lock(&mu_);
        kafka_error_ = written.ok() ? "" : std::string(written.message());
        kafka_error_at_ms_ = options_.now_ms();
      }
      if (!written.ok()) {
        for (int k = 0; k < core::kKindCount; ++k) {
          metrics_->CountEvents(*source, static_cast<core::Kind>(k + 1),
                                Outcome::kFailed, batch->accepted[k]);
        }
        for (const RejectedRecord& r : batch->rejected) {
          metrics_->CountEvents(*source, r.kind, Outcome::kFailed, 1);
        }
        Answer(response, 503,
               ErrorJson(absl::StrCat(
                   "Kafka did not acknowledge the records in time; nothing "
                   "of this request is acknowledged, retry later (",
                   written.message(), ")")));
        response->headers.emplace("Retry-After",
                                  std::to_string(options_.retry_after_seconds));
        return;
      }
    }
    for (int k = 0; k < core::kKindCount; ++k) {
      metrics_->CountEvents(*source, static_cast<core::Kind>(k + 1),
                            Outcome::kAccepted, batch->accepted[k]);
    }
    for (const RejectedRecord& r : batch->rejected) {
      metrics_->CountEvents(*source, r.kind, Outcome::kRejected, 1);
      metrics_->CountRejected(r.reason);
    }
    Answer(response, 202, batch->ResponseJson());
  }();
  metrics_->ObserveRequest(route, response->status,
                           absl::ToDoubleSeconds(absl::Now() - start), records);
}

void IngestService::PostEvents(const runtime::HttpRequest& request,
                               runtime::HttpResponse* response) {
  const bool ndjson = IsNdjson(MediaType(request));
  Serve(Route::kEvents, request, response, [&](const BatchContext& context) {
    return EventsBatch(request.body, ndjson, context);
  });
}

void IngestService::PostOpen311(const runtime::HttpRequest& request,
                                runtime::HttpResponse* response) {
  Serve(Route::kOpen311, request, response,
        [&](const BatchContext& context) { return Open311Batch(request.body, context); });
}

void IngestService::PostCsv(const runtime::HttpRequest& request,
                            runtime::HttpResponse* response) {
  const auto it = request.params.find("kind");
  const core::Kind kind = it != request.params.end() && it->second == "volunteer_shift"
                              ? core::Kind::kVolunteerShift
                              : core::Kind::kRecycling;  // RouteCheck allows only these two
  Serve(Route::kCsv, request, response,
        [&](const BatchContext& context) { return CsvBatch(request.body, kind, context); });
}

runtime::Health IngestService::health() const {
  absl::MutexLock lock(&mu_);
  // Only for Retry-After seconds: a load balancer that takes the instance out of service
  // must let it back in, or no request could ever show that Kafka is back.
  if (kafka_error_.empty() ||
      options_.now_ms() - kafka_error_at_ms_ >= options_.retry_after_seconds * 1000LL) {
    return {};
  }
  return {.ok = false, .detail = absl::StrCat("kafka: ", kafka_error_)};
}

}  // namespace civicpulse::ingest
