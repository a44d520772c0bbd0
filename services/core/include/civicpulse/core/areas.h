// Areas: what an area name may be, and the areas file (`--areas-file`, CSV
// `area,residents`) that the ingest (the areas it accepts), the aggregator and the exporter
// (the area label allow-list, civicpulse_area_residents) and the simulator (the areas it
// draws) all read. One parser, here (docs/reference.md, "Areas file").
//
// An area name becomes a Kafka key and a Prometheus label value, so it is short and plain:
// 1-64 bytes of A-Z a-z 0-9 and ". _ - /" (no spaces at either end, none doubled), and not
// the reserved label values "all" or "other".
//
// File format: one `area,residents` line per area; blank lines and lines starting with '#'
// are skipped, as is a first line `area,residents` (a header). Residents may be left empty
// (`W07,`) or omitted (`W07`) when unknown. Areas must be valid names and unique.
//
// Pure: ParseAreaList takes the file's text (services/runtime reads files). Plain data,
// thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace civicpulse::core {

// The rejection reason of an event whose area is not in the areas file.
inline constexpr std::string_view kReasonUnknownArea = "unknown_area";
// The rule, for error details.
inline constexpr std::string_view kAreaNameRule =
    "area: 1-64 characters of A-Z a-z 0-9 . _ - / and inner single spaces, not \"all\" or "
    "\"other\"";
inline constexpr size_t kMaxAreaBytes = 64;

bool IsValidAreaName(std::string_view area);

struct AreaList {
  std::vector<std::string> areas;                         // in file order
  std::vector<std::pair<std::string, double>> residents;  // areas that state a count
  // The residents of `area` when the file states them.
  std::optional<double> ResidentsOf(std::string_view area) const;
};

// `origin` names the input in error messages ("areas.csv:3: ...").
absl::StatusOr<AreaList> ParseAreaList(std::string_view text, std::string_view origin);

}  // namespace civicpulse::core
