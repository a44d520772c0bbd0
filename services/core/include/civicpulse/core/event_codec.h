// EventCodec: turns a Kafka record value (JSON or protobuf civicpulse.v1.Event) into a
// validated Event, and an Event back into either wire form.
//
// Validation follows docs/reference.md ("Event"): required fields, kind-specific ranges, enums,
// RFC 3339 timestamps with an offset, no timestamp more than `max_future` ahead of the
// receiving service's clock (passed in: the codec reads no clock). A rejected value yields
// an InvalidArgument status that carries a stable reason code and the offending field;
// RejectionOf() reads them back for the DLQ headers `error` / `error-detail` and metrics.
//
// JSON specifics: null for an optional field means absent, for a required one missing; a
// repeated key takes its last value; numbers given as strings are wrong_type; hours /
// weight_kg are read (and required) only for the kind that carries them. In protobuf, an
// absent participant is an anonymous report (has_participant == false), which JSON cannot
// express. Strings must be UTF-8 in both forms.
//
// Thread-compatible: one EventCodec per thread. It keeps scratch buffers between calls so
// that, once warm, decoding JSON does not allocate (tested). Does no I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "civicpulse/core/event.h"

namespace civicpulse::core {

// Stable reason codes: the DLQ `error` header and the `reason` metric label.
inline constexpr std::string_view kReasonInvalidJson = "invalid_json";
inline constexpr std::string_view kReasonInvalidProtobuf = "invalid_protobuf";
inline constexpr std::string_view kReasonNotAnObject = "not_an_object";
inline constexpr std::string_view kReasonMissingField = "missing_field";
inline constexpr std::string_view kReasonWrongType = "wrong_type";
inline constexpr std::string_view kReasonInvalidValue = "invalid_value";
inline constexpr std::string_view kReasonOutOfRange = "out_of_range";
inline constexpr std::string_view kReasonInvalidTimestamp = "invalid_timestamp";
inline constexpr std::string_view kReasonFutureTimestamp = "future_timestamp";
inline constexpr std::string_view kReasonInvalidUtf8 = "invalid_utf8";
inline constexpr std::string_view kReasonTooLarge = "too_large";

// Why a value was rejected. `field` names the offending field ("" for the whole value).
struct Rejection {
  std::string reason;  // one of the kReason* codes
  std::string field;
  std::string detail;  // human-readable, names the field; the DLQ `error-detail`
};

// Builds the InvalidArgument status that carries `reason` and `field` as a payload.
absl::Status RejectionError(std::string_view reason, std::string_view field,
                            std::string_view detail);
// Reads a status built by RejectionError back. Any other non-OK status maps to
// reason "internal" with the status message as detail.
Rejection RejectionOf(const absl::Status& status);

enum class Encoding { kAuto, kJson, kProtobuf };

struct CodecOptions {
  // Events further ahead of `now_ms` than this are rejected as future_timestamp.
  int64_t max_future_ms = 10 * 60 * 1000;
  // Values longer than this are rejected as too_large.
  size_t max_value_bytes = 64 * 1024;
  // JSON nesting deeper than this is rejected as invalid_json.
  int max_json_depth = 16;
};

class EventCodec {
 public:
  explicit EventCodec(CodecOptions options = {});
  ~EventCodec();
  EventCodec(const EventCodec&) = delete;
  EventCodec& operator=(const EventCodec&) = delete;

  // Decodes and validates `value` into *event (cleared first; storage reused). On failure
  // the content of *event is unspecified.
  // kAuto: JSON when `json_hint` (a `content-type: application/json` header) or when the
  // value starts with '{' (docs/reference.md); protobuf when it does not start like JSON
  // at all. A value that starts like another JSON value ('[', '"', '-', a digit, 't', 'f',
  // 'n', or JSON whitespace followed by '{' or '[') is a protobuf Event when it parses as
  // one (an Event starts with 0x0A, a newline, then the event_id's length byte, which is
  // '[' for 91 bytes and '{' for 123), and JSON otherwise; when it is a well-formed
  // protobuf that fails validation and not valid JSON either, the protobuf's error is
  // returned.
  absl::Status Decode(std::string_view value, Encoding encoding, int64_t now_ms,
                      Event* event, bool json_hint = false);

  // Validates an Event built by other means (Open311, CSV) with the same rules as Decode:
  // required fields non-empty (participant only when has_participant), enums in range,
  // kind-specific ranges, occurred_at representable, after 1970-01-01T00:00:00Z (the
  // engine reads a time of 0 or less as "none yet") and not in the future. It changes
  // nothing: builders get the defaults of a kind from Event::SetKind.
  absl::Status Validate(const Event& event, int64_t now_ms) const;

  // Serialises to the canonical protobuf form (what ingest produces) / the JSON form
  // (what the simulator prints). Replaces the content of *out. Every defaulted field is
  // written explicitly; hours / weight_kg only for the kind that carries them. A valid
  // Event encodes to a value that Decode accepts and decodes back to the same Event.
  void EncodeProtobuf(const Event& event, std::string* out);
  void EncodeJson(const Event& event, std::string* out);

 private:
  struct Scratch;
  absl::Status DecodeJson(std::string_view value, int64_t now_ms, Event* event);
  absl::Status DecodeProtobuf(std::string_view value, int64_t now_ms, Event* event);
  CodecOptions options_;
  std::unique_ptr<Scratch> scratch_;
};

// RFC 3339 date-time with a mandatory offset ("Z", "+01:00"); fractional seconds allowed
// (truncated to milliseconds). Dates are checked strictly (no month 13, no Feb 30; leap
// years per the Gregorian rule); a leap second (":60") is not accepted. The instant must lie
// in google.protobuf.Timestamp's range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z.
// Returns milliseconds since the epoch, or false when malformed or without an offset.
bool ParseRfc3339(std::string_view text, int64_t* unix_ms);
// Formats as "2026-11-22T18:04:05.123Z" (milliseconds only when non-zero).
std::string FormatRfc3339(int64_t unix_ms);

}  // namespace civicpulse::core
