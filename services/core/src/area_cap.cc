#include "civicpulse/core/area_cap.h"

#include <utility>

namespace civicpulse::core {

AreaCap::AreaCap(AreaCapOptions options)
    : options_(std::move(options)), fixed_(!options_.allowed.empty()) {
  for (const std::string& area : options_.allowed) known_.insert(area);
}

std::string_view AreaCap::Fold(std::string_view area) {
  auto it = known_.find(absl::string_view(area.data(), area.size()));
  if (it != known_.end()) return *it;
  // "other" and "all" are reserved label values: a real area with those names would
  // be indistinguishable from the fold and the union.
  if (fixed_ || known_.size() >= options_.max_areas || area == kOtherArea || area == kAllLabel) {
    return kOtherArea;
  }
  return *known_.insert(std::string(area)).first;
}

}  // namespace civicpulse::core
