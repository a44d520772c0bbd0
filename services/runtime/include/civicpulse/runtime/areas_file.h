// ReadAreaList: reads an --areas-file and parses it with core::ParseAreaList (the one
// parser; format in civicpulse/core/areas.h and docs/reference.md). Every binary that takes
// --areas-file calls this. Thread-compatible.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "civicpulse/core/areas.h"

namespace civicpulse::runtime {

// NotFound when the file cannot be read, InvalidArgument ("path:line: ...") when it does
// not parse or lists no area.
absl::StatusOr<core::AreaList> ReadAreaList(const std::string& path);

}  // namespace civicpulse::runtime
