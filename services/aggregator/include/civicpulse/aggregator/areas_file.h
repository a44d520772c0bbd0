// AreaList: the optional areas file (`--areas-file`, CSV `area,residents`) shared by the
// aggregator (the area allow-list) and the exporter (allow-list and civicpulse_area_residents).
//
// Format: one `area,residents` line per area; blank lines and lines starting with '#' are
// skipped, as is a first line `area,residents` (a header). Residents may be left empty
// (`W07,`) or omitted (`W07`) when unknown. Areas must be unique, non-empty, and not the
// reserved labels "all" or "other".
//
// ParseAreaList is pure; ReadAreaList reads the file. Plain data, thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace civicpulse::aggregator {

struct AreaList {
  std::vector<std::string> areas;                          // in file order
  std::vector<std::pair<std::string, double>> residents;   // areas that state a count
};

// `origin` names the input in error messages ("areas.csv:3: ...").
absl::StatusOr<AreaList> ParseAreaList(std::string_view text, std::string_view origin);
// Reads and parses `path`; NotFound / InvalidArgument with a one-line message.
absl::StatusOr<AreaList> ReadAreaList(const std::string& path);

}  // namespace civicpulse::aggregator
