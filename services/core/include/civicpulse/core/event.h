// Event: one act of participation in a co-produced public service, in memory.
//
// The in-memory twin of civicpulse.v1.Event (proto/civicpulse/v1/event.proto). Decoders fill
// an Event in place so that a reused Event keeps its string capacity and the hot path does
// not allocate. Defaults by kind (docs/reference.md, "Event") are applied by the decoders, so every
// field of a decoded Event is set.
//
// Thread-compatible plain data. Does no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace civicpulse::core {

enum class Kind : uint8_t { kWatchReport = 1, kVolunteerShift = 2, kRecycling = 3 };
inline constexpr int kKindCount = 3;

enum class Sector : uint8_t {
  kCommunitySafety = 1,
  kLocalEnvironment = 2,
  kPublicHealth = 3,
};

enum class Mode : uint8_t { kIndividual = 1, kCollective = 2 };

enum class CoproductionType : uint8_t {
  kCoCommissioning = 1,
  kCoDesign = 2,
  kCoDelivery = 3,
  kCoAssessment = 4,
};
inline constexpr int kCoproductionTypeCount = 4;

// The fixed age bands of docs/reference.md; anything else given is kUnknown, absence is kNone.
enum class AgeBand : uint8_t {
  kNone = 0,
  k16To24,
  k25To34,
  k35To44,
  k45To54,
  k55To64,
  k65To74,
  k75Plus,
  kUnknown,
};
inline constexpr int kAgeBandCount = 9;

struct Event {
  std::string event_id;
  Kind kind = Kind::kWatchReport;
  // Pseudonymised participant id; empty together with has_participant == false for an
  // anonymous report, which counts as an event but never as a participant.
  bool has_participant = true;
  std::string participant;
  std::string area;
  // Event time, milliseconds since the Unix epoch (UTC).
  int64_t occurred_at_ms = 0;
  std::string category;
  double hours = 0;        // volunteer_shift only: 0 < hours <= 24
  std::string organisation;
  double weight_kg = 0;    // recycling only: 0 < weight_kg <= 1000
  std::string material;
  Sector sector = Sector::kCommunitySafety;
  Mode mode = Mode::kCollective;
  bool public_body = true;
  CoproductionType coproduction = CoproductionType::kCoDelivery;
  AgeBand age_band = AgeBand::kNone;
  // Where the event entered civicpulse: an ingest source name, "simulator"; may be empty.
  std::string source;

  // Resets every field to its default while keeping string capacity.
  void Clear();

  // Sets `kind` together with the defaults of that kind (sector, mode). Builders of events
  // (Open311, CSV) call this first and then override what their input states.
  void SetKind(Kind new_kind);

  friend bool operator==(const Event&, const Event&) = default;
};

// Wire names, as in the JSON form and metric labels ("watch_report", "co_delivery", "65-74").
std::string_view KindName(Kind kind);
std::string_view SectorName(Sector sector);
std::string_view ModeName(Mode mode);
std::string_view CoproductionTypeName(CoproductionType type);
std::string_view AgeBandName(AgeBand band);  // kNone -> ""

std::optional<Kind> ParseKind(std::string_view name);
std::optional<Sector> ParseSector(std::string_view name);
std::optional<Mode> ParseMode(std::string_view name);
std::optional<CoproductionType> ParseCoproductionType(std::string_view name);
// Fixed bands parse to themselves; any other non-empty text is kUnknown; "" is kNone.
AgeBand ParseAgeBand(std::string_view name);

// Defaults by kind (docs/reference.md): sector by stream; watch reports and shifts are collective,
// recycling individual.
Sector DefaultSector(Kind kind);
Mode DefaultMode(Kind kind);

}  // namespace civicpulse::core
