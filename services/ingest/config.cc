#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "civicpulse/core/status_macros.h"
#include "civicpulse/runtime/areas_file.h"
#include "pseudonymizer.h"

namespace civicpulse::ingest {
namespace {

absl::Status ReadFile(const std::string& flag, const std::string& path,
                      std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  *out = text.str();
  return absl::OkStatus();
}

}  // namespace

void IngestConfig::AddFlags(CLI::App* app) {
  runtime::AddCommonFlags(app, &common, kDefaultListen);
  listen_option_ = app->get_option("--listen");
  listen_option_->description(
      "host:port of the API, /metrics and /healthz (loopback only without "
      "--tokens-file)");
  app->add_option("--tokens-file", tokens_file,
                  "Lines \"<source> <token>\": requests need Authorization: "
                  "Bearer <token>, "
                  "whose source they are");
  app->add_option("--pseudonym-key-file", pseudonym_key_file,
                  "Secret key (>= 16 bytes) of the HMAC-SHA256 that "
                  "pseudonymises participant "
                  "ids; required unless --demo");
  app->add_flag("--demo", demo,
                "Without --pseudonym-key-file, use a random key (pseudonyms "
                "change on restart)");
  app->add_option("--open311-config", open311_config,
                  "JSON mapping of Open311 requests to sectors and areas "
                  "(README.md); enables "
                  "POST /v1/open311/requests");
  app->add_option("--areas-file", areas_file,
                  "CSV area,residents (the aggregator's and exporter's file): events of other "
                  "areas are rejected unknown_area");
  app->add_option("--topic", topic, "Events topic")->capture_default_str();
  app->add_option("--dlq-topic", dlq_topic,
                  "Dead-letter topic for rejected records")
      ->capture_default_str();
  app->add_option("--produce-timeout", produce_timeout,
                  "Answer 503 when Kafka has not acknowledged a request's "
                  "records by then")
      ->capture_default_str();
  app->add_option("--retry-after", retry_after_seconds,
                  "Retry-After seconds of a 503")
      ->capture_default_str();
  app->add_option("--max-body-bytes", max_body_bytes, "Larger bodies get 413")
      ->capture_default_str();
  app->add_option("--max-records", max_records,
                  "More records in one request get 413")
      ->capture_default_str();
  app->add_option("--max-json-depth", max_json_depth,
                  "Deeper JSON nesting is rejected")
      ->capture_default_str();
  app->add_option("--time-zone", time_zone,
                  "Time zone of CSV occurred_at values without an offset (IANA "
                  "name, UTC, "
                  "+HH:MM)")
      ->capture_default_str();
  app->add_option("--default-source", default_source,
                  "Source name of every request when there is no --tokens-file")
      ->capture_default_str();
  app->add_option("--http-threads", http_threads, "HTTP worker threads")
      ->capture_default_str();
  app->add_option("--header-timeout", header_timeout,
                  "A connection's request headers must be complete this long after it "
                  "opened (or after its previous response); not restarted by each byte")
      ->capture_default_str();
  app->add_option("--body-timeout", body_timeout,
                  "A request's body must be complete this long after its headers")
      ->capture_default_str();
  app->add_option("--max-connections", max_connections,
                  "Open connections at most; more wait in the listen backlog")
      ->capture_default_str();
}

namespace {

// A duration flag in whole seconds within [1 s, 1 h].
absl::Status ParseSeconds(const std::string& flag, const std::string& text, int* seconds) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::Seconds(1) || d > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", text, "\" is not a duration in [1s, 1h], e.g. 10s"));
  }
  *seconds = static_cast<int>(absl::ToInt64Seconds(d));
  return absl::OkStatus();
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  // On the addresses the name resolves to, not its spelling: "127.example.org" is any
  // address, and "localhost" may be remapped in /etc/hosts. Every address must be loopback.
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (host.empty() || getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool all_loopback = found != nullptr;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      all_loopback &= (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      const in6_addr& addr = v6->sin6_addr;
      const bool mapped_loopback = IN6_IS_ADDR_V4MAPPED(&addr) && addr.s6_addr[12] == 127;
      all_loopback &= IN6_IS_ADDR_LOOPBACK(&addr) || mapped_loopback;
    } else {
      all_loopback = false;
    }
  }
  freeaddrinfo(found);
  return all_loopback;
}

absl::Status LoadZone(const std::string& flag, const std::string& name,
                      absl::TimeZone* zone) {
  if (name == "UTC" || name == "Z") {
    *zone = absl::UTCTimeZone();
    return absl::OkStatus();
  }
  if (name.size() == 6 && (name[0] == '+' || name[0] == '-') &&
      name[3] == ':') {
    int hours = 0, minutes = 0;
    if (absl::SimpleAtoi(name.substr(1, 2), &hours) &&
        absl::SimpleAtoi(name.substr(4, 2), &minutes) && hours <= 14 &&
        minutes < 60) {
      const int seconds =
          (hours * 3600 + minutes * 60) * (name[0] == '-' ? -1 : 1);
      *zone = absl::FixedTimeZone(seconds);
      return absl::OkStatus();
    }
  }
  if (!absl::LoadTimeZone(name, zone)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": unknown time zone \"", name,
                     "\" (want UTC, +HH:MM or an IANA name such as "
                     "Europe/London)"));
  }
  return absl::OkStatus();
}

absl::Status IngestConfig::Finish() {
  CIVICPULSE_RETURN_IF_ERROR(runtime::FinishCommonFlags(&common));
  if (!absl::ParseDuration(produce_timeout, &produce_timeout_duration) ||
      produce_timeout_duration <= absl::ZeroDuration() ||
      produce_timeout_duration > absl::Minutes(5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--produce-timeout: \"", produce_timeout,
                     "\" is not a duration in (0, 5m], e.g. 5s"));
  }
  if (retry_after_seconds < 1 || retry_after_seconds > 3600) {
    return absl::InvalidArgumentError("--retry-after must be 1..3600 seconds");
  }
  if (max_body_bytes < 1024 || max_body_bytes > (size_t{1} << 30)) {
    return absl::InvalidArgumentError("--max-body-bytes must be 1 KiB..1 GiB");
  }
  if (max_records < 1 || max_records > 1000000) {
    return absl::InvalidArgumentError("--max-records must be 1..1000000");
  }
  if (max_json_depth < 2 || max_json_depth > 256) {
    return absl::InvalidArgumentError("--max-json-depth must be 2..256");
  }
  if (http_threads < 1 || http_threads > 256) {
    return absl::InvalidArgumentError("--http-threads must be 1..256");
  }
  CIVICPULSE_RETURN_IF_ERROR(
      ParseSeconds("--header-timeout", header_timeout, &header_timeout_seconds));
  CIVICPULSE_RETURN_IF_ERROR(ParseSeconds("--body-timeout", body_timeout, &body_timeout_seconds));
  if (max_connections < 16 || max_connections > 65536) {
    return absl::InvalidArgumentError("--max-connections must be 16..65536");
  }
  if (topic.empty() || dlq_topic.empty() || topic == dlq_topic) {
    return absl::InvalidArgumentError(
        "--topic and --dlq-topic must be two different topics");
  }
  CIVICPULSE_RETURN_IF_ERROR(
      LoadZone("--time-zone", time_zone, &csv_time_zone));

  // Who may post: without tokens, loopback only.
  if (!tokens_file.empty()) {
    std::string text;
    CIVICPULSE_RETURN_IF_ERROR(ReadFile("--tokens-file", tokens_file, &text));
    absl::StatusOr<SourceTokens> parsed = SourceTokens::Parse(text);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tokens-file ", tokens_file, ": ", parsed.status().message()));
    }
    tokens = std::move(*parsed);
  } else {
    if (!SourceTokens::IsValidSourceName(default_source)) {
      return absl::InvalidArgumentError(
          "--default-source: 1-64 characters of A-Z a-z 0-9 . _ -");
    }
    std::string host;
    int port = 0;
    CIVICPULSE_RETURN_IF_ERROR(
        runtime::SplitHostPort(common.listen, &host, &port));
    if (listen_option_ != nullptr && listen_option_->count() == 0) {
      common.listen = kLoopbackListen;
      listen_defaulted_to_loopback = true;
    } else if (!IsLoopbackHost(host)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--listen ", common.listen,
                       ": without --tokens-file the API is unauthenticated and "
                       "listens on loopback only "
                       "(use 127.0.0.1:<port>, or give a --tokens-file)"));
    }
  }

  // The pseudonym key.
  if (!pseudonym_key_file.empty()) {
    CIVICPULSE_RETURN_IF_ERROR(
        ReadFile("--pseudonym-key-file", pseudonym_key_file, &pseudonym_key));
    while (!pseudonym_key.empty() &&
           (pseudonym_key.back() == '\n' || pseudonym_key.back() == '\r')) {
      pseudonym_key.pop_back();
    }
    if (pseudonym_key.size() < Pseudonymizer::kMinKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("--pseudonym-key-file ", pseudonym_key_file,
                       ": the key needs at least ", Pseudonymizer::kMinKeyBytes,
                       " bytes (e.g. openssl rand -hex 32 > key)"));
    }
  } else if (demo) {
    pseudonym_key = Pseudonymizer::RandomKey();
    generated_key = true;
  } else {
    return absl::InvalidArgumentError(
        "--pseudonym-key-file is required: participant ids are pseudonymised "
        "with it "
        "(or pass --demo for a random key)");
  }

  if (!areas_file.empty()) {
    absl::StatusOr<core::AreaList> list = runtime::ReadAreaList(areas_file);
    if (!list.ok()) {
      return absl::Status(list.status().code(),
                          absl::StrCat("--areas-file: ", list.status().message()));
    }
    areas = std::move(*list);
  }

  if (!open311_config.empty()) {
    std::string text;
    CIVICPULSE_RETURN_IF_ERROR(
        ReadFile("--open311-config", open311_config, &text));
    absl::StatusOr<core::Open311Mapping> mapping =
        core::ParseOpen311Mapping(text);
    if (!mapping.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--open311-config ", open311_config, ": ",
                       mapping.status().message()));
    }
    CIVICPULSE_RETURN_IF_ERROR(
        LoadZone(absl::StrCat("--open311-config ", open311_config),
                 mapping->time_zone_name, &mapping->time_zone));
    open311 = std::move(*mapping);
  }
  return absl::OkStatus();
}

}  // namespace civicpulse::ingest
