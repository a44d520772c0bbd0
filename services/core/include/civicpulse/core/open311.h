// Open311: turns GeoReport v2 service requests (a city's requests.json) into
// watch_report events of co-production type co_assessment: a resident reporting
// a problem to the council assesses a public service together with it.
//
// A request becomes one Event: event_id
// "open311-<source>-<service_request_id>"; category the service_name (else the
// service_code); sector from the mapping by service_code, then service_name,
// then the mapping's default (else the watch_report default); area from the
// zipcode (mapped, or prefixed), else the first bounding box holding lat/long,
// else the default area; occurred_at from requested_datetime (RFC 3339, or a
// civil time without offset read in the mapping's time zone). A request carries
// no reporter identity (GeoReport v2 lists none), so the event has no
// participant: it counts as an event, never as a person. Only an `account_id`,
// when a city sends one, becomes the participant (to be pseudonymised by the
// caller before the event leaves the process). Nulls are absent; zipcode 0 / ""
// and lat/long 0,0 (a geocoder's "unknown") are absent too. Numbers may be
// given as strings.
//
// Also here: SplitJsonArray, which the ingest gateway uses for every JSON array
// body, and ParseDateTime, shared with the CSV import.
//
// Open311Mapping is plain data, thread-compatible. Open311Decoder is
// thread-compatible (one per thread; it keeps a scratch buffer). Does no I/O:
// the caller loads the time zone.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "civicpulse/core/event.h"

namespace civicpulse::core {

// Reason code of a request whose area no mapping rule (nor a default) gives.
inline constexpr std::string_view kReasonUnmappedArea = "unmapped_area";

// One top-level element of a JSON array, as text (not parsed).
struct JsonElement {
  std::string_view text;
  int index = 0;          // 0-based position in the array
  int line = 1;           // 1-based line of the body where it starts
  bool too_deep = false;  // nested deeper than the limit: reject without parsing
};

// Splits a JSON array into its top-level elements by structure only: strings,
// brackets and separators are checked, element contents are left to the
// element's decoder. Iterative (no recursion, whatever the nesting). Leading
// whitespace and a UTF-8 byte-order mark are skipped. InvalidArgument when
// `text` is not a JSON array (the body cannot be read); ResourceExhausted when
// it holds more than `max_elements` elements.
absl::Status SplitJsonArray(std::string_view text, int max_depth, size_t max_elements,
                            std::vector<JsonElement>* elements);

// An RFC 3339 date-time with offset, or a civil "YYYY-MM-DD[T
// ]HH:MM[:SS[.fff]]" without one, read in `zone` (a skipped local time maps
// forward, a repeated one to its first instance). The separator may be 'T' or a
// space in both forms. False when malformed.
bool ParseDateTime(std::string_view text, const absl::TimeZone& zone, int64_t* unix_ms);

// A rectangle of latitude/longitude (degrees, inclusive) that names an area.
struct GeoBox {
  std::string area;
  double south = 0, west = 0, north = 0, east = 0;
  bool Contains(double lat, double lon) const {
    return lat >= south && lat <= north && lon >= west && lon <= east;
  }
};

// How a city's requests map onto civicpulse events (the ingest's
// --open311-config).
struct Open311Mapping {
  // Time zone of datetimes without an offset: `time_zone_name` as configured
  // (IANA name, "UTC" or a fixed "+HH:MM"), `time_zone` as loaded by the
  // caller. Default UTC.
  std::string time_zone_name = "UTC";
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // Sector by service_code, then by service_name; else `default_sector`, else
  // the watch_report default (community_safety).
  std::map<std::string, Sector, std::less<>> sector_by_service_code;
  std::map<std::string, Sector, std::less<>> sector_by_service_name;
  std::optional<Sector> default_sector;
  // Area: zipcode listed here; else, when `zipcode_area_prefix` is set, prefix
  // + zipcode; else the first box holding lat/long; else `default_area`; else
  // rejected (unmapped_area).
  std::map<std::string, std::string, std::less<>> area_by_zipcode;
  std::string zipcode_area_prefix;
  std::vector<GeoBox> area_boxes;
  std::string default_area;
  // Whether a public body took part (a council's 311 service: yes).
  bool public_body = true;
};

// Parses the JSON form of an Open311Mapping (documented in
// services/ingest/README.md):
//   {"time_zone": "America/Los_Angeles",
//    "sectors": {"service_code": {"033": "community_safety"}, "service_name":
//    {...},
//                "default": "local_environment"},
//    "areas": {"zipcode": {"94110": "SF-Mission"}, "zipcode_prefix": "SF-",
//              "boxes": [{"area": "SF-NE", "south": 37.78, "west": -122.43,
//                         "north": 37.81, "east": -122.39}],
//              "default": "SF-unknown"},
//    "public_body": true}
// Every key is optional; unknown keys are an error (a typo must not silently
// change the mapping). `time_zone` is stored by name only: the caller loads it
// into `time_zone`.
absl::StatusOr<Open311Mapping> ParseOpen311Mapping(std::string_view json);

struct Open311Options {
  int max_json_depth = 16;
};

class Open311Decoder {
 public:
  // `mapping` must outlive the decoder.
  explicit Open311Decoder(const Open311Mapping* mapping, Open311Options options = {});
  ~Open311Decoder();
  Open311Decoder(const Open311Decoder&) = delete;
  Open311Decoder& operator=(const Open311Decoder&) = delete;

  // Decodes one service request (a JSON object) into *event (cleared first),
  // with event->source = `source`. A broken request yields a RejectionError
  // (event_codec.h) naming the field; the event is not checked against the
  // clock here (EventCodec::Validate does that).
  absl::Status Decode(std::string_view request, std::string_view source, Event* event);

 private:
  const Open311Mapping* mapping_;
  Open311Options options_;
  std::string insitu_;
};

}  // namespace civicpulse::core
