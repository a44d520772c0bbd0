#include "civicpulse/core/areas.h"

#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "civicpulse/core/text.h"

namespace civicpulse::core {

using text::ToAbsl;

bool IsValidAreaName(std::string_view area) {
  if (area.empty() || area.size() > kMaxAreaBytes || area == "all" || area == "other") {
    return false;
  }
  if (area.front() == ' ' || area.back() == ' ') return false;
  char previous = 0;
  for (const char c : area) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                    c == '_' || c == '-' || c == '/' || (c == ' ' && previous != ' ');
    if (!ok) return false;
    previous = c;
  }
  return true;
}

std::optional<double> AreaList::ResidentsOf(std::string_view area) const {
  for (const auto& [name, count] : residents) {
    if (name == area) return count;
  }
  return std::nullopt;
}

absl::StatusOr<AreaList> ParseAreaList(std::string_view text_in, std::string_view origin_in) {
  const absl::string_view text = ToAbsl(text_in);
  const absl::string_view origin = ToAbsl(origin_in);
  AreaList list;
  absl::flat_hash_set<std::string> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ":", line_number, ": ", what));
    };
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    if (fields.size() > 2) return error("expected `area,residents`");
    const absl::string_view area = absl::StripAsciiWhitespace(fields[0]);
    const absl::string_view residents =
        fields.size() > 1 ? absl::StripAsciiWhitespace(fields[1]) : absl::string_view();
    if (list.areas.empty() && seen.empty() && absl::AsciiStrToLower(area) == "area" &&
        absl::AsciiStrToLower(residents) == "residents") {
      continue;  // header line
    }
    if (area.empty()) return error("empty area name");
    if (area == "all" || area == "other") {
      return error(absl::StrCat("\"", area, "\" is a reserved label value"));
    }
    if (!IsValidAreaName(std::string_view(area.data(), area.size()))) {
      return error(ToAbsl(kAreaNameRule));
    }
    if (!seen.insert(std::string(area)).second) {
      return error(absl::StrCat("area \"", area, "\" listed twice"));
    }
    list.areas.emplace_back(area);
    if (residents.empty()) continue;
    double count = 0;
    if (!absl::SimpleAtod(residents, &count) || !std::isfinite(count) || count < 0) {
      return error(absl::StrCat("residents of \"", area, "\" must be a number >= 0, got \"",
                                residents, "\""));
    }
    list.residents.emplace_back(std::string(area), count);
  }
  return list;
}

}  // namespace civicpulse::core
