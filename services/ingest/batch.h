// Batch: what one API request turns into — the records to produce (events for
// civicpulse.events.v1, rejected input for the dead-letter topic) and the
// per-record verdicts the response reports. Building a batch is pure (no I/O,
// no clock: `now_ms` is passed in), so every rule of the API is unit-tested
// without sockets or Kafka.
//
// Privacy: every participant id is replaced by its pseudonym (pseudonymizer.h)
// before it is put in a record. Dead-letter copies are the rejected input with
// the same treatment: in a JSON record the value of a top-level "participant"
// member (Open311: account_id, email, first_name, last_name, phone, device_id)
// is replaced by its pseudonym, found by a structural scan that also reads
// escaped key names; when the record is not well-formed JSON, every
// `"participant"` key's value is replaced textually. A CSV row's participant
// cell is replaced, and when a row has the wrong number of cells, every cell
// where the participant may have shifted to. The DLQ header `pseudonymised`
// names what was replaced. Not covered: a raw id in a field of another name or
// in a JSON value that is not an object.
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

// The DLQ treatment of a JSON record (see above): `names` are top-level member
// names whose values are replaced by Pseudonym(source, value); *replaced gets
// the names replaced.
std::string PseudonymiseJsonMembers(std::string_view json,
                                    const std::vector<std::string_view>& names,
                                    const Pseudonymizer& pseudonymizer,
                                    std::string_view source,
                                    std::vector<std::string>* replaced);

}  // namespace civicpulse::ingest
