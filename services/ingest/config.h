// IngestConfig: civicpulse-ingest's flags with their defaults, and their
// validation. AddFlags registers them on a CLI11 app; Finish() (after parsing)
// applies the common flags, reads the tokens file, the pseudonym key and the
// Open311 mapping and the areas file, loads time zones and checks the listen address: without a
// tokens file the API is unauthenticated, so it is served on loopback only (the
// default --listen becomes 127.0.0.1:8080, a non-loopback
// --listen is refused).
// Plain data, thread-compatible.
#pragma once

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "civicpulse/core/areas.h"
#include "civicpulse/core/open311.h"
#include "civicpulse/kafka/client_config.h"
#include "civicpulse/runtime/common_flags.h"
#include "source_tokens.h"

namespace civicpulse::ingest {

inline constexpr char kDefaultListen[] = "0.0.0.0:8080";
inline constexpr char kLoopbackListen[] = "127.0.0.1:8080";

struct IngestConfig {
  runtime::CommonFlags common;
  std::string tokens_file;                          // --tokens-file
  std::string pseudonym_key_file;                   // --pseudonym-key-file
  bool demo = false;                                // --demo
  std::string open311_config;                       // --open311-config
  std::string areas_file;                           // --areas-file
  std::string topic = kafka::kEventsTopic;          // --topic
  std::string dlq_topic = kafka::kDeadLetterTopic;  // --dlq-topic
  std::string produce_timeout = "5s";               // --produce-timeout
  int retry_after_seconds = 5;                      // --retry-after
  size_t max_body_bytes = 8 * 1024 * 1024;          // --max-body-bytes
  size_t max_records = 10000;                       // --max-records
  int max_json_depth = 16;                          // --max-json-depth
  std::string time_zone = "UTC";         // --time-zone (CSV without offset)
  std::string default_source = "local";  // --default-source (no tokens file)
  int http_threads = 8;                  // --http-threads
  std::string header_timeout = "10s";    // --header-timeout (whole seconds)
  std::string body_timeout = "30s";      // --body-timeout (whole seconds)
  int max_connections = 4096;            // --max-connections

  // Filled by Finish().
  std::optional<SourceTokens> tokens;
  std::string pseudonym_key;
  bool generated_key = false;  // --demo without a key file
  std::optional<core::Open311Mapping> open311;
  std::optional<core::AreaList> areas;  // from --areas-file
  absl::TimeZone csv_time_zone = absl::UTCTimeZone();
  absl::Duration produce_timeout_duration = absl::Seconds(5);
  int header_timeout_seconds = 10;
  int body_timeout_seconds = 30;
  bool listen_defaulted_to_loopback = false;

  void AddFlags(CLI::App* app);
  // InvalidArgument / NotFound with a one-line message (the caller exits 2).
  absl::Status Finish();

 private:
  CLI::Option* listen_option_ = nullptr;
};

// Loads "UTC", a fixed "+HH:MM" / "-HH:MM", or an IANA name from the system's
// zoneinfo.
absl::Status LoadZone(const std::string& flag, const std::string& name,
                      absl::TimeZone* zone);
// True when `host` resolves, and only to loopback addresses (127.0.0.0/8, ::1).
bool IsLoopbackHost(const std::string& host);

}  // namespace civicpulse::ingest
