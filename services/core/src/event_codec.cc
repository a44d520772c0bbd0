#include "civicpulse/core/event_codec.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <type_traits>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "civicpulse/core/status_macros.h"
#include "civicpulse/core/text.h"
#include "civicpulse/v1/event.pb.h"
#include "json_members.h"
#include "rapidjson/reader.h"

namespace civicpulse::core {
namespace {

constexpr std::string_view kRejectionTypeUrl = "type.civicpulse/rejection";

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int64_t kMinTimestampMs = kMinTimestampSeconds * 1000;
constexpr int64_t kMaxTimestampMs = kMaxTimestampSeconds * 1000 + 999;

constexpr double kMaxHours = 24;
constexpr double kMaxWeightKg = 1000;

// Field names: the JSON keys, the proto field names and the `field` of a Rejection.
constexpr std::string_view kEventId = "event_id";
constexpr std::string_view kKind = "kind";
constexpr std::string_view kParticipant = "participant";
constexpr std::string_view kArea = "area";
constexpr std::string_view kOccurredAt = "occurred_at";
constexpr std::string_view kCategory = "category";
constexpr std::string_view kHours = "hours";
constexpr std::string_view kOrganisation = "organisation";
constexpr std::string_view kWeightKg = "weight_kg";
constexpr std::string_view kMaterial = "material";
constexpr std::string_view kSector = "sector";
constexpr std::string_view kMode = "mode";
constexpr std::string_view kPublicBody = "public_body";
constexpr std::string_view kCoproduction = "coproduction";
constexpr std::string_view kAgeBand = "age_band";
constexpr std::string_view kSource = "source";

// ---- calendar ---------------------------------------------------------------------------

bool IsLeapYear(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Inverse of DaysFromCivil.
void CivilFromDays(int64_t z, int64_t* year, int* month, int* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *year = yoe + era * 400 + (*month <= 2);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// Writes "YYYY-MM-DDTHH:MM:SS[.mmm]Z" into buf (at least 32 bytes); returns its length.
size_t FormatRfc3339To(int64_t unix_ms, char* buf) {
  const int64_t seconds = FloorDiv(unix_ms, 1000);
  const int millis = static_cast<int>(unix_ms - seconds * 1000);
  const int64_t days = FloorDiv(seconds, 86400);
  const int64_t second_of_day = seconds - days * 86400;
  int64_t year;
  int month, day;
  CivilFromDays(days, &year, &month, &day);
  auto put = [&buf](size_t pos, int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf[pos + i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  // Years outside 0..9999 only arise from Events that Validate would reject; clamp so that
  // the output keeps its shape.
  put(0, year < 0 ? 0 : (year > 9999 ? 9999 : year), 4);
  buf[4] = '-';
  put(5, month, 2);
  buf[7] = '-';
  put(8, day, 2);
  buf[10] = 'T';
  put(11, second_of_day / 3600, 2);
  buf[13] = ':';
  put(14, second_of_day / 60 % 60, 2);
  buf[16] = ':';
  put(17, second_of_day % 60, 2);
  size_t len = 19;
  if (millis != 0) {
    buf[len++] = '.';
    put(len, millis, 3);
    len += 3;
  }
  buf[len++] = 'Z';
  return len;
}

// ---- rejections -------------------------------------------------------------------------

// Debian's abseil has its own absl::string_view (not an alias of std::string_view), so
// absl::StrCat does not take the std::string_view used here; this small Cat does.
void AppendPiece(std::string* out, std::string_view text) { out->append(text); }
template <typename T>
requires std::is_integral_v<T>
void AppendPiece(std::string* out, T value) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof(buf), value).ptr);
}

template <typename... Pieces>
std::string Cat(const Pieces&... pieces) {
  std::string out;
  (AppendPiece(&out, pieces), ...);
  return out;
}

using text::Describe;
using text::IsValidUtf8;
using text::ToAbsl;

std::string FormatDouble(double value) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, result.ptr);
}

absl::Status Missing(std::string_view field) {
  return RejectionError(kReasonMissingField, field, Cat(field, ": required"));
}

absl::Status Empty(std::string_view field) {
  return RejectionError(kReasonMissingField, field, Cat(field, ": must not be empty"));
}

absl::Status UnknownName(std::string_view field, std::string_view got, std::string_view want) {
  return RejectionError(kReasonInvalidValue, field,
                        Cat(field, ": unknown value ", Describe(got), " (want ", want, ")"));
}

absl::Status UnknownNumber(std::string_view field, int got) {
  return RejectionError(kReasonInvalidValue, field, Cat(field, ": unknown enum value ", got));
}

// ---- shared rules -----------------------------------------------------------------------

absl::Status CheckRange(std::string_view field, double value, double max) {
  // Written so that NaN fails too.
  if (value > 0 && value <= max) return absl::OkStatus();
  return RejectionError(
      kReasonOutOfRange, field,
      // The value itself is not quoted: a misplaced id may be a number (docs/threat-model.md).
      Cat(field, ": must be > 0 and <= ", FormatDouble(max),
          value > max ? ", got more" : ", got 0 or less"));
}

absl::Status CheckOccurredAt(int64_t occurred_at_ms, int64_t now_ms, int64_t max_future_ms) {
  if (occurred_at_ms < kMinTimestampMs || occurred_at_ms > kMaxTimestampMs) {
    return RejectionError(kReasonInvalidTimestamp, kOccurredAt,
                          Cat(kOccurredAt, ": outside years 0001..9999"));
  }
  // The engine's event time starts after the Unix epoch: a watermark or an event time of 0
  // or less reads as "none yet" there and in the exporter, so such an event would be applied
  // and then never show in an indicator. None is a participation event this service watches.
  if (occurred_at_ms <= 0) {
    return RejectionError(kReasonInvalidTimestamp, kOccurredAt,
                          Cat(kOccurredAt, ": ", FormatRfc3339(occurred_at_ms),
                              " is not after 1970-01-01T00:00:00Z"));
  }
  // Unsigned difference: exact for any now_ms, where a signed one could overflow.
  const uint64_t ahead = static_cast<uint64_t>(occurred_at_ms) - static_cast<uint64_t>(now_ms);
  if (occurred_at_ms > now_ms &&
      ahead > static_cast<uint64_t>(std::max<int64_t>(0, max_future_ms))) {
    return RejectionError(
        kReasonFutureTimestamp, kOccurredAt,
        Cat(kOccurredAt, ": ", FormatRfc3339(occurred_at_ms), " is ", ahead / 1000,
            " s ahead of the receiving clock (at most ", max_future_ms / 1000, " s allowed)"));
  }
  return absl::OkStatus();
}

// The kind-specific measure (hours for shifts, weight_kg for recycling), if the kind has one.
struct Measure {
  std::string_view field;
  double max;
  double Event::*slot;
};
std::optional<Measure> MeasureOf(Kind kind) {
  switch (kind) {
    case Kind::kVolunteerShift:
      return Measure{kHours, kMaxHours, &Event::hours};
    case Kind::kRecycling:
      return Measure{kWeightKg, kMaxWeightKg, &Event::weight_kg};
    case Kind::kWatchReport:
      break;
  }
  return std::nullopt;
}

template <typename E>
bool InRange(E value, int max) {
  const int v = static_cast<int>(value);
  return v >= 1 && v <= max;
}

// ---- JSON -------------------------------------------------------------------------------

// Parsed by the core's one JSON handler shape (json_members.h): in situ, numbers as their
// JSON text, converted only where a field needs one, by std::from_chars, which is exact (so
// hours / weight_kg survive an encode-decode round trip); UTF-8 checked over the whole value
// up front.

enum JsonField : uint8_t {
  kFieldEventId,
  kFieldKind,
  kFieldParticipant,
  kFieldArea,
  kFieldOccurredAt,
  kFieldCategory,
  kFieldHours,
  kFieldOrganisation,
  kFieldWeightKg,
  kFieldMaterial,
  kFieldSector,
  kFieldMode,
  kFieldPublicBody,
  kFieldCoproduction,
  kFieldAgeBand,
  kFieldSource,
  kFieldCount,
  kFieldUnknown = kFieldCount,
};

constexpr std::string_view kFieldNames[kFieldCount] = {
    kEventId,  kKind,     kParticipant, kArea, kOccurredAt, kCategory,     kHours,   kOrganisation,
    kWeightKg, kMaterial, kSector,      kMode, kPublicBody, kCoproduction, kAgeBand, kSource};

JsonField FieldOf(std::string_view key) {
  // Dispatch on the first byte, then compare once: a handful of instructions per key.
  if (key.empty()) return kFieldUnknown;
  auto is = [key](std::string_view name, JsonField field) {
    return key == name ? field : kFieldUnknown;
  };
  switch (key[0]) {
    case 'e':
      return is(kEventId, kFieldEventId);
    case 'k':
      return is(kKind, kFieldKind);
    case 'p':
      if (key.size() == kParticipant.size() && key[1] == 'a')
        return is(kParticipant, kFieldParticipant);
      return is(kPublicBody, kFieldPublicBody);
    case 'a':
      if (key.size() == kArea.size()) return is(kArea, kFieldArea);
      return is(kAgeBand, kFieldAgeBand);
    case 'o':
      if (key.size() == kOccurredAt.size()) return is(kOccurredAt, kFieldOccurredAt);
      return is(kOrganisation, kFieldOrganisation);
    case 'c':
      if (key.size() == kCategory.size()) return is(kCategory, kFieldCategory);
      return is(kCoproduction, kFieldCoproduction);
    case 'h':
      return is(kHours, kFieldHours);
    case 'w':
      return is(kWeightKg, kFieldWeightKg);
    case 'm':
      if (key.size() == kMaterial.size()) return is(kMaterial, kFieldMaterial);
      return is(kMode, kFieldMode);
    case 's':
      if (key.size() == kSector.size() && key[1] == 'e') return is(kSector, kFieldSector);
      return is(kSource, kFieldSource);
    default:
      return kFieldUnknown;
  }
}

// The field table of JsonMembers.
struct EventFields {
  static constexpr int kCount = kFieldCount;
  static constexpr std::array<std::string_view, kCount> kNames = std::to_array(kFieldNames);
  static int Find(std::string_view key) { return FieldOf(key); }
};
using JsonValue = JsonMember;
using JsonFields = JsonMembers<EventFields>;

bool Absent(const JsonValue& value) { return IsAbsent(value); }

absl::Status WrongType(std::string_view field, std::string_view want, JsonType got) {
  return JsonWrongType(field, want, got);
}

// A JSON number's text as a double; false when it does not fit one (e.g. 1e999).
bool ToDouble(std::string_view text, double* out) {
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, *out);
  return error == std::errc() && ptr == end;
}

// A required, non-empty string; its text in *text.
absl::Status RequiredString(const JsonValue& value, std::string_view field,
                            std::string_view* text) {
  if (Absent(value)) return Missing(field);
  if (value.type != JsonType::kString) return WrongType(field, "a string", value.type);
  if (value.text.empty()) return Empty(field);
  *text = value.text;
  return absl::OkStatus();
}

absl::Status RequiredString(const JsonValue& value, std::string_view field, std::string* out) {
  std::string_view text;
  absl::Status status = RequiredString(value, field, &text);
  if (status.ok()) out->assign(text.data(), text.size());
  return status;
}

// An optional string: absent or null leaves *text untouched.
absl::Status OptionalString(const JsonValue& value, std::string_view field,
                            std::string_view* text) {
  if (Absent(value)) return absl::OkStatus();
  if (value.type != JsonType::kString) return WrongType(field, "a string", value.type);
  *text = value.text;
  return absl::OkStatus();
}

absl::Status OptionalString(const JsonValue& value, std::string_view field, std::string* out) {
  std::string_view text;
  absl::Status status = OptionalString(value, field, &text);
  if (status.ok()) out->assign(text.data(), text.size());
  return status;
}

// An optional enum given by name; absent or null leaves *out at its default.
template <typename E>
absl::Status OptionalEnum(const JsonValue& value, std::string_view field,
                          std::optional<E> (*parse)(std::string_view), std::string_view want,
                          E* out) {
  if (Absent(value)) return absl::OkStatus();
  if (value.type != JsonType::kString) return WrongType(field, "a string", value.type);
  const std::optional<E> parsed = parse(value.text);
  if (!parsed) return UnknownName(field, value.text, want);
  *out = *parsed;
  return absl::OkStatus();
}

// Appends `text` as a JSON string: quotes, backslashes and control characters escaped,
// everything else (UTF-8 included) as is.
void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escape
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default: {
        const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(escape, sizeof(escape));
      }
    }
  }
  out->append(text.data() + run, text.size() - run);
  out->push_back('"');
}

// Appends the shortest text that reads back as exactly `value`; null when not finite
// (JSON has no NaN or infinity; Decode then reports the field as missing).
void AppendJsonNumber(double value, std::string* out) {
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  char buf[32];
  out->append(buf, std::to_chars(buf, buf + sizeof(buf), value).ptr);
}

constexpr std::string_view kKindNamesWanted = "watch_report, volunteer_shift or recycling";
constexpr std::string_view kSectorNamesWanted =
    "community_safety, local_environment or public_health";
constexpr std::string_view kModeNamesWanted = "individual or collective";
constexpr std::string_view kCoproductionNamesWanted =
    "co_commissioning, co_design, co_delivery or co_assessment";

// Auto-detection of the encoding; see EventCodec::Decode.
bool LooksLikeJson(std::string_view value) {
  auto starts_value = [](char c) {
    return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
           c == 'f' || c == 'n';
  };
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  if (value.empty()) return false;
  if (starts_value(value[0])) return true;
  size_t i = 0;
  while (i < value.size() && is_space(value[i])) ++i;
  return i > 0 && i < value.size() && (value[i] == '{' || value[i] == '[');
}

static_assert(static_cast<int>(Kind::kWatchReport) == civicpulse::v1::KIND_WATCH_REPORT);
static_assert(static_cast<int>(Kind::kVolunteerShift) == civicpulse::v1::KIND_VOLUNTEER_SHIFT);
static_assert(static_cast<int>(Kind::kRecycling) == civicpulse::v1::KIND_RECYCLING);
static_assert(static_cast<int>(Sector::kPublicHealth) == civicpulse::v1::SECTOR_PUBLIC_HEALTH);
static_assert(static_cast<int>(Sector::kLocalEnvironment) ==
              civicpulse::v1::SECTOR_LOCAL_ENVIRONMENT);
static_assert(static_cast<int>(Mode::kCollective) == civicpulse::v1::MODE_COLLECTIVE);
static_assert(static_cast<int>(CoproductionType::kCoAssessment) ==
              civicpulse::v1::COPRODUCTION_TYPE_CO_ASSESSMENT);

}  // namespace

// ---- public free functions ---------------------------------------------------------------

absl::Status RejectionError(std::string_view reason, std::string_view field,
                            std::string_view detail) {
  absl::Status status(absl::StatusCode::kInvalidArgument, ToAbsl(detail));
  status.SetPayload(ToAbsl(kRejectionTypeUrl), absl::Cord(Cat(reason, "\n", field)));
  return status;
}

Rejection RejectionOf(const absl::Status& status) {
  Rejection rejection;
  if (status.ok()) return rejection;
  rejection.detail = std::string(status.message());
  const auto payload = status.GetPayload(ToAbsl(kRejectionTypeUrl));
  if (!payload) {
    rejection.reason = "internal";
    return rejection;
  }
  const std::string flat(*payload);
  const size_t newline = flat.find('\n');
  rejection.reason = flat.substr(0, newline);
  if (newline != std::string::npos) rejection.field = flat.substr(newline + 1);
  return rejection;
}

bool ParseRfc3339(std::string_view text, int64_t* unix_ms) {
  auto digits = [text](size_t pos, size_t count, int* out) {
    if (pos + count > text.size()) return false;
    int value = 0;
    for (size_t i = pos; i < pos + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, &year) || text.size() < 20 || text[4] != '-' || !digits(5, 2, &month) ||
      text[7] != '-' || !digits(8, 2, &day) || (text[10] != 'T' && text[10] != 't') ||
      !digits(11, 2, &hour) || text[13] != ':' || !digits(14, 2, &minute) || text[16] != ':' ||
      !digits(17, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  size_t pos = 19;
  int millis = 0;
  if (text[pos] == '.') {
    const size_t start = ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (text[pos] - '0');
      ++pos;
    }
    const size_t count = pos - start;
    if (count == 0) return false;
    for (size_t i = count; i < 3; ++i) millis *= 10;
  }
  if (pos >= text.size()) return false;  // no offset
  int offset_minutes = 0;
  const char sign = text[pos];
  if (sign == 'Z' || sign == 'z') {
    ++pos;
  } else if (sign == '+' || sign == '-') {
    int offset_hours, offset_mins;
    if (!digits(pos + 1, 2, &offset_hours) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !digits(pos + 4, 2, &offset_mins) || offset_hours > 23 || offset_mins > 59) {
      return false;
    }
    offset_minutes = (offset_hours * 60 + offset_mins) * (sign == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != text.size()) return false;
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                          second - int64_t{offset_minutes} * 60;
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) return false;
  *unix_ms = seconds * 1000 + millis;
  return true;
}

std::string FormatRfc3339(int64_t unix_ms) {
  char buf[32];
  return std::string(buf, FormatRfc3339To(unix_ms, buf));
}

// ---- EventCodec --------------------------------------------------------------------------

struct EventCodec::Scratch {
  std::string insitu;  // the value copied, NUL-terminated, parsed in place
  rapidjson::Reader reader;
  civicpulse::v1::Event proto;
};

EventCodec::EventCodec(CodecOptions options)
    : options_(options), scratch_(std::make_unique<Scratch>()) {}

EventCodec::~EventCodec() = default;

absl::Status EventCodec::Decode(std::string_view value, Encoding encoding, int64_t now_ms,
                                Event* event, bool json_hint) {
  event->Clear();
  if (value.size() > options_.max_value_bytes) {
    return RejectionError(
        kReasonTooLarge, "",
        Cat("value of ", value.size(), " bytes exceeds the limit of ", options_.max_value_bytes));
  }
  if (encoding == Encoding::kJson ||
      (encoding == Encoding::kAuto && (json_hint || (!value.empty() && value[0] == '{')))) {
    return DecodeJson(value, now_ms, event);
  }
  if (encoding == Encoding::kProtobuf || !LooksLikeJson(value)) {
    return DecodeProtobuf(value, now_ms, event);
  }
  // Starts like JSON but not with '{': a protobuf Event may too (0x0A, a newline, then the
  // event_id's length: 91 is '[', 123 is '{', and 9, 10, 13 and 32 are whitespace that an
  // id starting with '{' or '[' follows). A well-formed protobuf is one; otherwise JSON, whose
  // error names what is wrong with such a value (not_an_object, invalid_json).
  absl::Status as_protobuf = DecodeProtobuf(value, now_ms, event);
  if (as_protobuf.ok()) return as_protobuf;
  const bool well_formed_protobuf = RejectionOf(as_protobuf).reason != kReasonInvalidProtobuf;
  event->Clear();
  absl::Status as_json = DecodeJson(value, now_ms, event);
  if (as_json.ok() || !well_formed_protobuf) return as_json;
  return as_protobuf;  // neither: the protobuf's own complaint (a missing field, say)
}

absl::Status EventCodec::DecodeJson(std::string_view value, int64_t now_ms, Event* event) {
  JsonFields fields(options_.max_json_depth, /*check_surrogates=*/true);
  CIVICPULSE_RETURN_IF_ERROR(ReadJsonObject(
      value, {.max_depth = options_.max_json_depth, .validate_utf8 = true, .subject = "value"},
      &scratch_->insitu, &scratch_->reader, &fields));

  // Rules in field order, so that the first broken field is the one reported.
  CIVICPULSE_RETURN_IF_ERROR(RequiredString(fields[kFieldEventId], kEventId, &event->event_id));
  std::string_view text;
  CIVICPULSE_RETURN_IF_ERROR(RequiredString(fields[kFieldKind], kKind, &text));
  const std::optional<Kind> kind = ParseKind(text);
  if (!kind) return UnknownName(kKind, text, kKindNamesWanted);
  event->SetKind(*kind);
  CIVICPULSE_RETURN_IF_ERROR(
      RequiredString(fields[kFieldParticipant], kParticipant, &event->participant));
  CIVICPULSE_RETURN_IF_ERROR(RequiredString(fields[kFieldArea], kArea, &event->area));
  CIVICPULSE_RETURN_IF_ERROR(RequiredString(fields[kFieldOccurredAt], kOccurredAt, &text));
  if (!ParseRfc3339(text, &event->occurred_at_ms)) {
    return RejectionError(
        kReasonInvalidTimestamp, kOccurredAt,
        Cat(kOccurredAt, ": not an RFC 3339 date-time with offset: ", Describe(text)));
  }
  CIVICPULSE_RETURN_IF_ERROR(
      CheckOccurredAt(event->occurred_at_ms, now_ms, options_.max_future_ms));
  if (const std::optional<Measure> measure = MeasureOf(*kind)) {
    const JsonValue& value = fields[*kind == Kind::kVolunteerShift ? kFieldHours : kFieldWeightKg];
    if (Absent(value)) return Missing(measure->field);
    if (value.type != JsonType::kNumber) return WrongType(measure->field, "a number", value.type);
    double* slot = &(event->*measure->slot);
    if (!ToDouble(value.text, slot)) {
      return RejectionError(kReasonOutOfRange, measure->field,
                            Cat(measure->field, ": must be > 0 and <= ", FormatDouble(measure->max),
                                ", got ", Describe(value.text)));
    }
    CIVICPULSE_RETURN_IF_ERROR(CheckRange(measure->field, *slot, measure->max));
  }
  CIVICPULSE_RETURN_IF_ERROR(OptionalString(fields[kFieldCategory], kCategory, &event->category));
  CIVICPULSE_RETURN_IF_ERROR(
      OptionalString(fields[kFieldOrganisation], kOrganisation, &event->organisation));
  CIVICPULSE_RETURN_IF_ERROR(OptionalString(fields[kFieldMaterial], kMaterial, &event->material));
  CIVICPULSE_RETURN_IF_ERROR(OptionalEnum(fields[kFieldSector], kSector, &ParseSector,
                                          kSectorNamesWanted, &event->sector));
  CIVICPULSE_RETURN_IF_ERROR(
      OptionalEnum(fields[kFieldMode], kMode, &ParseMode, kModeNamesWanted, &event->mode));
  if (const JsonValue& value = fields[kFieldPublicBody]; !Absent(value)) {
    if (value.type != JsonType::kBool) return WrongType(kPublicBody, "a boolean", value.type);
    event->public_body = value.boolean;
  }
  CIVICPULSE_RETURN_IF_ERROR(OptionalEnum(fields[kFieldCoproduction], kCoproduction,
                                          &ParseCoproductionType, kCoproductionNamesWanted,
                                          &event->coproduction));
  text = {};
  CIVICPULSE_RETURN_IF_ERROR(OptionalString(fields[kFieldAgeBand], kAgeBand, &text));
  event->age_band = ParseAgeBand(text);
  return OptionalString(fields[kFieldSource], kSource, &event->source);
}

absl::Status EventCodec::DecodeProtobuf(std::string_view value, int64_t now_ms, Event* event) {
  civicpulse::v1::Event& p = scratch_->proto;
  // The parser also rejects string fields that are not valid UTF-8 (proto3).
  if (!p.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return RejectionError(kReasonInvalidProtobuf, "",
                          Cat("not a civicpulse.v1.Event protobuf (", value.size(), " bytes)"));
  }
  if (p.event_id().empty()) return Missing(kEventId);
  event->event_id.assign(p.event_id());
  if (p.kind() == civicpulse::v1::KIND_UNSPECIFIED) return Missing(kKind);
  if (!InRange(p.kind(), kKindCount)) return UnknownNumber(kKind, p.kind());
  const Kind kind = static_cast<Kind>(p.kind());
  event->SetKind(kind);
  if (p.has_participant()) {
    if (p.participant().empty()) return Empty(kParticipant);
    event->participant.assign(p.participant());
  } else {
    event->has_participant = false;  // an anonymous report
  }
  if (p.area().empty()) return Missing(kArea);
  event->area.assign(p.area());
  if (!p.has_occurred_at()) return Missing(kOccurredAt);
  const int64_t seconds = p.occurred_at().seconds();
  const int32_t nanos = p.occurred_at().nanos();
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds || nanos < 0 ||
      nanos > 999'999'999) {
    return RejectionError(
        kReasonInvalidTimestamp, kOccurredAt,
        Cat(kOccurredAt, ": invalid Timestamp {seconds: ", seconds, ", nanos: ", nanos, "}"));
  }
  event->occurred_at_ms = seconds * 1000 + nanos / 1'000'000;
  CIVICPULSE_RETURN_IF_ERROR(
      CheckOccurredAt(event->occurred_at_ms, now_ms, options_.max_future_ms));
  if (const std::optional<Measure> measure = MeasureOf(kind)) {
    const double given = kind == Kind::kVolunteerShift ? p.hours() : p.weight_kg();
    // proto3 cannot tell an absent double from 0.
    if (given == 0) return Missing(measure->field);
    CIVICPULSE_RETURN_IF_ERROR(CheckRange(measure->field, given, measure->max));
    event->*measure->slot = given;
  }
  event->category.assign(p.category());
  event->organisation.assign(p.organisation());
  event->material.assign(p.material());
  if (p.sector() != civicpulse::v1::SECTOR_UNSPECIFIED) {
    if (!InRange(p.sector(), 3)) return UnknownNumber(kSector, p.sector());
    event->sector = static_cast<Sector>(p.sector());
  }
  if (p.mode() != civicpulse::v1::MODE_UNSPECIFIED) {
    if (!InRange(p.mode(), 2)) return UnknownNumber(kMode, p.mode());
    event->mode = static_cast<Mode>(p.mode());
  }
  event->public_body = !p.has_public_body() || p.public_body();
  if (p.coproduction() != civicpulse::v1::COPRODUCTION_TYPE_UNSPECIFIED) {
    if (!InRange(p.coproduction(), kCoproductionTypeCount)) {
      return UnknownNumber(kCoproduction, p.coproduction());
    }
    event->coproduction = static_cast<CoproductionType>(p.coproduction());
  }
  event->age_band = ParseAgeBand(p.age_band());
  event->source.assign(p.source());
  return absl::OkStatus();
}

absl::Status EventCodec::Validate(const Event& event, int64_t now_ms) const {
  if (event.event_id.empty()) return Missing(kEventId);
  if (!InRange(event.kind, kKindCount)) {
    return UnknownNumber(kKind, static_cast<int>(event.kind));
  }
  if (event.has_participant && event.participant.empty()) return Empty(kParticipant);
  if (event.area.empty()) return Missing(kArea);
  CIVICPULSE_RETURN_IF_ERROR(CheckOccurredAt(event.occurred_at_ms, now_ms, options_.max_future_ms));
  if (const std::optional<Measure> measure = MeasureOf(event.kind)) {
    CIVICPULSE_RETURN_IF_ERROR(CheckRange(measure->field, event.*measure->slot, measure->max));
  }
  if (!InRange(event.sector, 3)) return UnknownNumber(kSector, static_cast<int>(event.sector));
  if (!InRange(event.mode, 2)) return UnknownNumber(kMode, static_cast<int>(event.mode));
  if (!InRange(event.coproduction, kCoproductionTypeCount)) {
    return UnknownNumber(kCoproduction, static_cast<int>(event.coproduction));
  }
  if (static_cast<int>(event.age_band) >= kAgeBandCount) {
    return UnknownNumber(kAgeBand, static_cast<int>(event.age_band));
  }
  return absl::OkStatus();
}

void EventCodec::EncodeProtobuf(const Event& event, std::string* out) {
  civicpulse::v1::Event& p = scratch_->proto;
  p.Clear();
  p.set_event_id(event.event_id);
  p.set_kind(static_cast<civicpulse::v1::Kind>(event.kind));
  if (event.has_participant) p.set_participant(event.participant);
  p.set_area(event.area);
  const int64_t seconds = FloorDiv(event.occurred_at_ms, 1000);
  p.mutable_occurred_at()->set_seconds(seconds);
  p.mutable_occurred_at()->set_nanos(static_cast<int32_t>(event.occurred_at_ms - seconds * 1000) *
                                     1'000'000);
  p.set_category(event.category);
  if (event.kind == Kind::kVolunteerShift) p.set_hours(event.hours);
  p.set_organisation(event.organisation);
  if (event.kind == Kind::kRecycling) p.set_weight_kg(event.weight_kg);
  p.set_material(event.material);
  p.set_sector(static_cast<civicpulse::v1::Sector>(event.sector));
  p.set_mode(static_cast<civicpulse::v1::Mode>(event.mode));
  p.set_public_body(event.public_body);
  p.set_coproduction(static_cast<civicpulse::v1::CoproductionType>(event.coproduction));
  p.set_age_band(std::string(AgeBandName(event.age_band)));
  p.set_source(event.source);
  p.SerializeToString(out);
}

void EventCodec::EncodeJson(const Event& event, std::string* out) {
  out->clear();
  char separator = '{';
  auto key = [&](std::string_view name) {
    out->push_back(separator);
    separator = ',';
    AppendJsonString(name, out);
    out->push_back(':');
  };
  auto string = [&](std::string_view name, std::string_view value) {
    key(name);
    AppendJsonString(value, out);
  };
  string(kEventId, event.event_id);
  string(kKind, KindName(event.kind));
  if (event.has_participant) string(kParticipant, event.participant);
  string(kArea, event.area);
  char time[32];
  string(kOccurredAt, std::string_view(time, FormatRfc3339To(event.occurred_at_ms, time)));
  if (!event.category.empty()) string(kCategory, event.category);
  if (event.kind == Kind::kVolunteerShift) {
    key(kHours);
    AppendJsonNumber(event.hours, out);
  }
  if (!event.organisation.empty()) string(kOrganisation, event.organisation);
  if (event.kind == Kind::kRecycling) {
    key(kWeightKg);
    AppendJsonNumber(event.weight_kg, out);
  }
  if (!event.material.empty()) string(kMaterial, event.material);
  string(kSector, SectorName(event.sector));
  string(kMode, ModeName(event.mode));
  key(kPublicBody);
  out->append(event.public_body ? "true" : "false");
  string(kCoproduction, CoproductionTypeName(event.coproduction));
  if (event.age_band != AgeBand::kNone) string(kAgeBand, AgeBandName(event.age_band));
  if (!event.source.empty()) string(kSource, event.source);
  out->push_back('}');
}

}  // namespace civicpulse::core
