// AreaCap: keeps the `area` label set bounded. With an allow-list (the areas file) only
// listed areas keep their name; without one the first `max_areas` distinct areas seen do.
// Every other area folds into "other".
//
// Thread-compatible. Does no I/O.
#pragma once

#include <string>
#include <string_view>

#include "absl/container/node_hash_set.h"
#include "civicpulse/core/engine_options.h"

namespace civicpulse::core {

inline constexpr std::string_view kOtherArea = "other";
inline constexpr std::string_view kAllLabel = "all";

class AreaCap {
 public:
  explicit AreaCap(AreaCapOptions options);

  // The label to use for `area`: itself, or "other". The view stays valid as long as this.
  std::string_view Fold(std::string_view area);
  size_t size() const { return known_.size(); }

 private:
  AreaCapOptions options_;
  bool fixed_;
  absl::node_hash_set<std::string> known_;  // node: returned views stay valid
};

}  // namespace civicpulse::core
