// Batch: what one API request turns into — the records to produce (events for
// civicpulse.events.v1, rejected input for the dead-letter topic) and the
// per-record verdicts the response reports. Building a batch is pure (no I/O,
// no clock: `now_ms` is passed in), so every rule of the API is unit-tested
// without sockets or Kafka.
//
// Privacy: every participant id is replaced by its pseudonym (pseudonymizer.h)
// before it is put in a record. A dead-letter copy is a DeadLetterCopy of the
// rejected input (dead_letter_copy.h: every string that is not harmless vocabulary
// is pseudonymised, whatever its place, since a rejected record's structure cannot
// be trusted), header `pseudonymised: strings`. Copies are cut to
// `max_dead_letter_bytes`; a cut copy has headers `truncated: true`,
// `original-size` and `original-hmac-sha256` (HMAC-SHA256 with the pseudonym key of
// "#dead-letter:" + the original bytes: who holds the key can match a client's record
// to its dead letter, nobody else can confirm a guess of its content). `error-detail`
// never quotes input (core::text::Describe) and is cut to 256 bytes; `csv-header`
// names only known columns.
//
// Sizes: records are bounded by the codec (64 KiB per JSON value, too_large), CSV
// cells by the CSV import; areas must be listed in the areas file (unknown_area) or,
// without one, be plain short names (core/areas.h, invalid_value).
//
// Event ids: /v1/events keeps the client's event_id; Open311 uses
// "open311-<source>-<service_request_id>"; a CSV row without an event_id column
// gets "csv-" + the first 32 hex digits of HMAC(key,
// "#event_id:<source>:<kind>:<row text>"), so re-sending the same file yields
// the same ids (the aggregator counts each once).
//
// Thread-compatible: build one batch per request.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/open311.h"
#include "civicpulse/kafka/producer.h"
#include "pseudonymizer.h"

namespace civicpulse::ingest {

enum class OutTopic { kEvents, kDeadLetter };

// The rejection of an event whose kind the token may not post (source_tokens.h).
inline constexpr std::string_view kReasonKindNotAllowed = "kind_not_allowed";

// One record to produce.
struct OutRecord {
  OutTopic topic = OutTopic::kEvents;
  std::string key;    // the area for events; empty for dead letters
  std::string value;  // protobuf civicpulse.v1.Event, or the (pseudonymised)
                      // rejected input
  kafka::Headers headers;
  int64_t occurred_at_ms = 0;  // events: records of a batch are produced in this order
};

// One rejected input record, as the response lists it.
struct RejectedRecord {
  int position = 0;  // index in a JSON array, or line (NDJSON, CSV)
  int column = 0;    // CSV only: 1-based column, 0 for the whole row
  std::optional<core::Kind>
      kind;  // when known (metrics label; "unknown" otherwise)
  std::string field;
  std::string reason;  // a reason code (event_codec.h, open311.h, csv_import.h)
  std::string detail;
};

struct Batch {
  // "index" (JSON array, single object, Open311) or "line" (NDJSON, CSV).
  std::string position_name = "index";
  std::vector<OutRecord> records;
  // Accepted events by kind (index: static_cast<int>(kind) - 1).
  std::array<int, core::kKindCount> accepted{};
  std::vector<RejectedRecord> rejected;

  int accepted_total() const;
  // The 202 response body: {"accepted":N,"rejected":M,"errors":[...]} with at
  // most `max_errors` entries listed ("errors_truncated": true beyond).
  std::string ResponseJson(size_t max_errors = 1000) const;
};

struct BatchContext {
  std::string source;  // from the bearer token (or the configured default)
  int64_t now_ms = 0;
  const Pseudonymizer* pseudonymizer = nullptr;  // required
  size_t max_records = 10000;
  int max_json_depth = 16;
  const core::Open311Mapping* open311 = nullptr;  // required by Open311Batch
  absl::TimeZone csv_time_zone = absl::UTCTimeZone();
  // The areas file (--areas-file): events of other areas are rejected unknown_area.
  // Empty: any area that core::IsValidAreaName accepts.
  std::function<bool(std::string_view)> is_known_area;
  // The kinds the token may post (bit static_cast<int>(Kind)); others are rejected
  // kind_not_allowed.
  uint32_t allowed_kinds = ~0u;
  // Dead-letter copies are cut to this (Kafka's default message.max.bytes is 1 MB).
  size_t max_dead_letter_bytes = 64 * 1024;
};

// POST /v1/events. `ndjson`: one JSON event per line (blank lines skipped;
// positions are lines). Otherwise one JSON object, or a JSON array of them
// (positions are indexes). InvalidArgument when the body cannot be read at all
// (400), ResourceExhausted when it holds more than max_records records (413).
absl::StatusOr<Batch> EventsBatch(std::string_view body, bool ndjson,
                                  const BatchContext& context);

// POST /v1/open311/requests: a JSON array of GeoReport v2 service requests (or
// one object).
absl::StatusOr<Batch> Open311Batch(std::string_view body,
                                   const BatchContext& context);

// POST /v1/imports/csv?kind=...: a CSV file with a header row.
absl::StatusOr<Batch> CsvBatch(std::string_view body, core::Kind kind,
                               const BatchContext& context);

}  // namespace civicpulse::ingest
