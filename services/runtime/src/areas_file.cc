#include "civicpulse/runtime/areas_file.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace civicpulse::runtime {

absl::StatusOr<core::AreaList> ReadAreaList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read areas file ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read areas file ", path));
  absl::StatusOr<core::AreaList> list = core::ParseAreaList(text.str(), path);
  if (list.ok() && list->areas.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("areas file ", path, " lists no area"));
  }
  return list;
}

}  // namespace civicpulse::runtime
