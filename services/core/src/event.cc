#include "civicpulse/core/event.h"

#include <array>

namespace civicpulse::core {
namespace {

constexpr std::array<std::string_view, 4> kKindNames = {"", "watch_report", "volunteer_shift",
                                                        "recycling"};
constexpr std::array<std::string_view, 4> kSectorNames = {"", "community_safety",
                                                          "local_environment", "public_health"};
constexpr std::array<std::string_view, 3> kModeNames = {"", "individual", "collective"};
constexpr std::array<std::string_view, 5> kCoproductionNames = {"", "co_commissioning", "co_design",
                                                                "co_delivery", "co_assessment"};
constexpr std::array<std::string_view, kAgeBandCount> kAgeBandNames = {
    "", "16-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+", "unknown"};

// Name of an enum value by its index; "" for a value outside the table (a corrupt cast).
template <typename E, size_t N>
std::string_view NameOf(const std::array<std::string_view, N>& names, E value) {
  const auto index = static_cast<size_t>(value);
  return index < N ? names[index] : std::string_view();
}

// Inverse of NameOf over indices 1..N-1 ("" never parses).
template <typename E, size_t N>
std::optional<E> Parse(const std::array<std::string_view, N>& names, std::string_view name) {
  if (name.empty()) return std::nullopt;
  for (size_t i = 1; i < N; ++i) {
    if (names[i] == name) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

void Event::Clear() {
  event_id.clear();
  kind = Kind::kWatchReport;
  has_participant = true;
  participant.clear();
  area.clear();
  occurred_at_ms = 0;
  category.clear();
  hours = 0;
  organisation.clear();
  weight_kg = 0;
  material.clear();
  sector = Sector::kCommunitySafety;
  mode = Mode::kCollective;
  public_body = true;
  coproduction = CoproductionType::kCoDelivery;
  age_band = AgeBand::kNone;
  source.clear();
}

void Event::SetKind(Kind new_kind) {
  kind = new_kind;
  sector = DefaultSector(new_kind);
  mode = DefaultMode(new_kind);
}

std::string_view KindName(Kind kind) { return NameOf(kKindNames, kind); }
std::string_view SectorName(Sector sector) { return NameOf(kSectorNames, sector); }
std::string_view ModeName(Mode mode) { return NameOf(kModeNames, mode); }
std::string_view CoproductionTypeName(CoproductionType type) {
  return NameOf(kCoproductionNames, type);
}
std::string_view AgeBandName(AgeBand band) { return NameOf(kAgeBandNames, band); }

std::optional<Kind> ParseKind(std::string_view name) { return Parse<Kind>(kKindNames, name); }
std::optional<Sector> ParseSector(std::string_view name) {
  return Parse<Sector>(kSectorNames, name);
}
std::optional<Mode> ParseMode(std::string_view name) { return Parse<Mode>(kModeNames, name); }
std::optional<CoproductionType> ParseCoproductionType(std::string_view name) {
  return Parse<CoproductionType>(kCoproductionNames, name);
}

AgeBand ParseAgeBand(std::string_view name) {
  if (name.empty()) return AgeBand::kNone;
  // "unknown" is the name of kUnknown, so it round-trips like any other unlisted text.
  for (size_t i = 1; i + 1 < kAgeBandNames.size(); ++i) {
    if (kAgeBandNames[i] == name) return static_cast<AgeBand>(i);
  }
  return AgeBand::kUnknown;
}

Sector DefaultSector(Kind kind) {
  switch (kind) {
    case Kind::kWatchReport:
      return Sector::kCommunitySafety;
    case Kind::kVolunteerShift:
      return Sector::kPublicHealth;
    case Kind::kRecycling:
      return Sector::kLocalEnvironment;
  }
  return Sector::kCommunitySafety;
}

Mode DefaultMode(Kind kind) {
  return kind == Kind::kRecycling ? Mode::kIndividual : Mode::kCollective;
}

}  // namespace civicpulse::core
