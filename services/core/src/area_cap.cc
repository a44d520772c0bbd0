#include "civicpulse/core/area_cap.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace civicpulse::core {
namespace {

bool IsReserved(std::string_view area) { return area == kOtherArea || area == kAllLabel; }

}  // namespace

AreaCap::AreaCap(AreaCapOptions options)
    : options_(std::move(options)), fixed_(!options_.allowed.empty()) {
  for (const std::string& area : options_.allowed) known_.insert(area);
}

std::string_view AreaCap::Fold(std::string_view area) {
  auto it = known_.find(absl::string_view(area.data(), area.size()));
  if (it != known_.end()) return *it;
  // "other" and "all" are reserved label values: a real area with those names would
  // be indistinguishable from the fold and the union.
  if (fixed_ || known_.size() >= options_.max_areas || IsReserved(area)) return kOtherArea;
  return *known_.insert(std::string(area)).first;
}

std::vector<bool> SelectAreaLabels(const AreaCapOptions& options,
                                   const std::vector<std::string>& areas,
                                   const std::vector<int64_t>& first_seen_ms) {
  std::vector<bool> keep(areas.size(), false);
  if (!options.allowed.empty()) {
    const absl::flat_hash_set<std::string> allowed(options.allowed.begin(), options.allowed.end());
    for (size_t i = 0; i < areas.size(); ++i) {
      keep[i] = !IsReserved(areas[i]) && allowed.contains(areas[i]);
    }
    return keep;
  }
  std::vector<size_t> candidates;
  candidates.reserve(areas.size());
  for (size_t i = 0; i < areas.size(); ++i) {
    if (!IsReserved(areas[i])) candidates.push_back(i);
  }
  if (candidates.size() > options.max_areas) {
    // The first max_areas seen: the smallest (first seen, name), an area not known to have
    // been seen (0) after every other; names are distinct, so ties cannot depend on the
    // input order either.
    std::vector<std::pair<int64_t, size_t>> ranked;
    ranked.reserve(candidates.size());
    for (size_t i : candidates) {
      const int64_t first = i < first_seen_ms.size() ? first_seen_ms[i] : 0;
      ranked.emplace_back(first != 0 ? first : std::numeric_limits<int64_t>::max(), i);
    }
    auto less = [&](const auto& x, const auto& y) {
      return x.first != y.first ? x.first < y.first : areas[x.second] < areas[y.second];
    };
    std::nth_element(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(options.max_areas),
                     ranked.end(), less);
    candidates.clear();
    for (size_t j = 0; j < options.max_areas; ++j) candidates.push_back(ranked[j].second);
  }
  for (size_t i : candidates) keep[i] = true;
  return keep;
}

}  // namespace civicpulse::core
