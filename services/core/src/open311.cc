#include "civicpulse/core/open311.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/status_macros.h"
#include "civicpulse/core/text.h"
#include "json_members.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace civicpulse::core {
namespace {

using text::Cat;
using text::Describe;
using text::IsJsonSpace;
using text::ToAbsl;

// ---- SplitJsonArray
// ----------------------------------------------------------------------

// Scans one JSON value starting at text[*pos] by structure only; on success
// *pos is just past it. Sets *too_deep when brackets nest deeper than max_depth
// (matching of bracket kinds is then checked only down to max_depth). Returns
// an error message, or "" on success.
std::string ScanValue(std::string_view text, size_t* pos, int max_depth, bool* too_deep,
                      int* newlines) {
  // Bracket kinds of the open containers, down to max_depth.
  std::string open;
  int depth = 0;
  size_t i = *pos;
  const size_t n = text.size();
  if (i >= n) return "value expected at the end of the body";
  if (text[i] == ',' || text[i] == ']' || text[i] == '}' || text[i] == ':') {
    return Cat("value expected at byte ", i);
  }
  while (i < n) {
    const char c = text[i];
    if (c == '"') {
      for (++i;; ++i) {
        if (i >= n) return "string not terminated";
        if (text[i] == '\\') {
          ++i;
          if (i >= n) return "string not terminated";
        } else if (text[i] == '"') {
          ++i;
          break;
        } else if (text[i] == '\n') {
          ++*newlines;  // invalid in JSON; the element's decoder reports it
        }
      }
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        *too_deep = true;
      } else {
        open.push_back(c);
      }
      ++i;
    } else if (c == '}' || c == ']') {
      if (depth == 0) break;  // closes the enclosing array: the scalar before it ended
      if (depth <= max_depth) {
        if (open.back() != (c == '}' ? '{' : '[')) {
          return Cat("mismatched '", std::string(1, c), "' at byte ", i);
        }
        open.pop_back();
      }
      --depth;
      ++i;
    } else if (depth > 0) {
      if (c == '\n') ++*newlines;
      ++i;  // separators, whitespace and scalars inside a container
      continue;
    } else if (c == ',' || IsJsonSpace(c)) {
      break;  // end of a top-level scalar
    } else {
      ++i;  // part of a top-level scalar
      continue;
    }
    if (depth == 0) break;
  }
  if (depth > 0) return "array or object not closed before the end of the body";
  *pos = i;
  return "";
}

// ---- The members of a service request (json_members.h) ----------------------

enum Field : uint8_t {
  kServiceRequestId,
  kToken,
  kServiceCode,
  kServiceName,
  kRequestedDatetime,
  kZipcode,
  kLat,
  kLong,
  kAccountId,
  kFieldCount,
};
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "service_request_id", "token",   "service_code", "service_name",
    "requested_datetime", "zipcode", "lat",          "long",
    "account_id"};

// The field table of JsonMembers.
struct RequestFields {
  static constexpr int kCount = kFieldCount;
  static constexpr std::array<std::string_view, kCount> kNames = kFieldNames;
  static int Find(std::string_view key) {
    for (int f = 0; f < kFieldCount; ++f) {
      if (kFieldNames[f] == key) return f;
    }
    return kFieldCount;
  }
};
using RequestMembers = JsonMembers<RequestFields>;

bool Absent(const JsonMember& m) { return IsAbsent(m); }

absl::Status WrongType(Field field, std::string_view want, JsonType got) {
  return JsonWrongType(kFieldNames[field], want, got);
}

// A string or number as text ("" when absent or null); numbers are kept as
// written.
absl::Status Text(const RequestMembers& members, Field field, std::string_view* out) {
  const JsonMember& m = members[field];
  *out = {};
  if (Absent(m)) return absl::OkStatus();
  if (m.type != JsonType::kString && m.type != JsonType::kNumber) {
    return WrongType(field, "a string or a number", m.type);
  }
  if (!text::IsValidUtf8(m.text)) {
    return RejectionError(kReasonInvalidUtf8, kFieldNames[field],
                          Cat(kFieldNames[field], ": not UTF-8"));
  }
  *out = m.text;
  return absl::OkStatus();
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A coordinate given as a number or numeric string; nullopt when absent or
// empty.
absl::Status Coordinate(const RequestMembers& members, Field field, double limit,
                        std::optional<double>* out) {
  std::string_view text;
  CIVICPULSE_RETURN_IF_ERROR(Text(members, field, &text));
  text = Trim(text);
  if (text.empty()) return absl::OkStatus();
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end) {
    return RejectionError(kReasonInvalidValue, kFieldNames[field],
                          Cat(kFieldNames[field], ": not a number: ", Describe(text)));
  }
  if (!std::isfinite(value) || std::fabs(value) > limit) {
    return RejectionError(
        kReasonOutOfRange, kFieldNames[field],
        Cat(kFieldNames[field], ": must be within +-", limit, " degrees, got ", Describe(text)));
  }
  *out = value;
  return absl::OkStatus();
}

// The members of a JSON object as a plain range (RapidJSON keeps them
// contiguous). Its own iterators trip clang's C++20
// -Wambiguous-reversed-operator.
struct MemberRange {
  const rapidjson::Value::Member* first;
  const rapidjson::Value::Member* last;
  const rapidjson::Value::Member* begin() const { return first; }
  const rapidjson::Value::Member* end() const { return last; }
};
MemberRange Members(const rapidjson::Value& object) {
  if (object.MemberCount() == 0) return {nullptr, nullptr};
  const rapidjson::Value::Member* first = &*object.MemberBegin();
  return {first, first + object.MemberCount()};
}

absl::StatusOr<Sector> SectorOf(const rapidjson::Value& value, std::string_view where) {
  if (value.IsString()) {
    if (std::optional<Sector> sector =
            ParseSector(std::string_view(value.GetString(), value.GetStringLength()))) {
      return *sector;
    }
  }
  return absl::InvalidArgumentError(
      Cat(where, ": must be community_safety, local_environment or public_health"));
}

absl::Status StringMap(
    const rapidjson::Value& object, std::string_view where,
    const std::function<absl::Status(std::string, const rapidjson::Value&)>& add) {
  if (!object.IsObject()) return absl::InvalidArgumentError(Cat(where, ": must be an object"));
  for (const auto& member : Members(object)) {
    CIVICPULSE_RETURN_IF_ERROR(
        add(std::string(member.name.GetString(), member.name.GetStringLength()), member.value));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NonEmptyString(const rapidjson::Value& value, std::string_view where) {
  if (!value.IsString() || value.GetStringLength() == 0) {
    return absl::InvalidArgumentError(Cat(where, ": must be a non-empty string"));
  }
  return std::string(value.GetString(), value.GetStringLength());
}

absl::StatusOr<double> Number(const rapidjson::Value& value, std::string_view where) {
  if (!value.IsNumber()) return absl::InvalidArgumentError(Cat(where, ": must be a number"));
  return value.GetDouble();
}

}  // namespace

absl::Status SplitJsonArray(std::string_view text, int max_depth, size_t max_elements,
                            std::vector<JsonElement>* elements) {
  elements->clear();
  size_t i = 0;
  const size_t n = text.size();
  int line = 1;
  auto skip_space = [&] {
    while (i < n && IsJsonSpace(text[i])) {
      if (text[i] == '\n') ++line;
      ++i;
    }
  };
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  skip_space();
  if (i >= n || text[i] != '[') {
    return absl::InvalidArgumentError("body is not a JSON array");
  }
  ++i;
  skip_space();
  if (i < n && text[i] == ']') {
    ++i;
  } else {
    for (;;) {
      skip_space();
      if (elements->size() >= max_elements) {
        return absl::ResourceExhaustedError(
            Cat("more than ", max_elements, " records in one request"));
      }
      JsonElement element;
      element.index = static_cast<int>(elements->size());
      element.line = line;
      const size_t start = i;
      int newlines = 0;
      std::string error = ScanValue(text, &i, max_depth, &element.too_deep, &newlines);
      if (!error.empty()) {
        return absl::InvalidArgumentError(
            Cat("not a JSON array: element ", element.index, ": ", error));
      }
      line += newlines;
      element.text = text.substr(start, i - start);
      elements->push_back(element);
      skip_space();
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < n && text[i] == ']') {
        ++i;
        break;
      }
      return absl::InvalidArgumentError(
          i < n ? Cat("not a JSON array: expected ',' or ']' at byte ", i)
                : std::string("not a JSON array: ']' missing at the end of the body"));
    }
  }
  skip_space();
  if (i != n) {
    return absl::InvalidArgumentError(Cat("unexpected data after the JSON array at byte ", i));
  }
  return absl::OkStatus();
}

bool ParseDateTime(std::string_view text, const absl::TimeZone& zone, int64_t* unix_ms) {
  char buf[64];
  if (text.size() < 16 || text.size() >= sizeof(buf)) return false;
  std::memcpy(buf, text.data(), text.size());
  if (buf[10] == ' ') buf[10] = 'T';
  const std::string_view normalised(buf, text.size());
  if (ParseRfc3339(normalised, unix_ms)) return true;

  // A civil time without an offset.
  auto digits = [normalised](size_t pos, size_t count, int* out) {
    if (pos + count > normalised.size()) return false;
    int value = 0;
    for (size_t k = pos; k < pos + count; ++k) {
      if (normalised[k] < '0' || normalised[k] > '9') return false;
      value = value * 10 + (normalised[k] - '0');
    }
    *out = value;
    return true;
  };
  int year, month, day, hour, minute, second = 0;
  if (!digits(0, 4, &year) || normalised[4] != '-' || !digits(5, 2, &month) ||
      normalised[7] != '-' || !digits(8, 2, &day) ||
      (normalised[10] != 'T' && normalised[10] != 't') || !digits(11, 2, &hour) ||
      normalised[13] != ':' || !digits(14, 2, &minute)) {
    return false;
  }
  size_t pos = 16;
  int millis = 0;
  if (pos < normalised.size()) {
    if (normalised[pos] != ':' || !digits(pos + 1, 2, &second)) return false;
    pos += 3;
    if (pos < normalised.size()) {
      if (normalised[pos] != '.') return false;
      const size_t start = ++pos;
      while (pos < normalised.size() && normalised[pos] >= '0' && normalised[pos] <= '9') {
        if (pos - start < 3) millis = millis * 10 + (normalised[pos] - '0');
        ++pos;
      }
      const size_t count = pos - start;
      if (count == 0 || pos != normalised.size()) return false;
      for (size_t k = count; k < 3; ++k) millis *= 10;
    }
  }
  const absl::CivilDay civil_day(year, month, day);
  if (year < 1 || month < 1 || month > 12 || civil_day.month() != month || civil_day.day() != day ||
      hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  const absl::Time t =
      absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second), zone);
  *unix_ms = absl::ToUnixMillis(t) + millis;
  return true;
}

absl::StatusOr<Open311Mapping> ParseOpen311Mapping(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseStopWhenDoneFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        Cat("not JSON: ", rapidjson::GetParseError_En(doc.GetParseError()), " at byte ",
            doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) return absl::InvalidArgumentError("must be a JSON object");
  Open311Mapping mapping;
  for (const auto& top : Members(doc)) {
    const std::string_view key(top.name.GetString(), top.name.GetStringLength());
    const rapidjson::Value& value = top.value;
    if (key == "time_zone") {
      CIVICPULSE_ASSIGN_OR_RETURN(mapping.time_zone_name, NonEmptyString(value, "time_zone"));
    } else if (key == "public_body") {
      if (!value.IsBool()) return absl::InvalidArgumentError("public_body: must be a boolean");
      mapping.public_body = value.GetBool();
    } else if (key == "sectors") {
      CIVICPULSE_RETURN_IF_ERROR(StringMap(
          value, "sectors", [&](std::string name, const rapidjson::Value& v) -> absl::Status {
            if (name == "default") {
              CIVICPULSE_ASSIGN_OR_RETURN(mapping.default_sector, SectorOf(v, "sectors.default"));
              return absl::OkStatus();
            }
            std::map<std::string, Sector, std::less<>>* target;
            if (name == "service_code") {
              target = &mapping.sector_by_service_code;
            } else if (name == "service_name") {
              target = &mapping.sector_by_service_name;
            } else {
              return absl::InvalidArgumentError(
                  Cat("sectors: unknown key \"", name,
                      "\" (want service_code, service_name or default)"));
            }
            const std::string where = Cat("sectors.", name);
            return StringMap(v, where, [&](std::string k, const rapidjson::Value& s) {
              absl::StatusOr<Sector> sector = SectorOf(s, Cat(where, ".", k));
              if (!sector.ok()) return sector.status();
              (*target)[k] = *sector;
              return absl::OkStatus();
            });
          }));
    } else if (key == "areas") {
      if (!value.IsObject()) return absl::InvalidArgumentError("areas: must be an object");
      for (const auto& member : Members(value)) {
        const std::string_view name(member.name.GetString(), member.name.GetStringLength());
        const rapidjson::Value& v = member.value;
        if (name == "zipcode") {
          CIVICPULSE_RETURN_IF_ERROR(
              StringMap(v, "areas.zipcode", [&](std::string zip, const rapidjson::Value& a) {
                absl::StatusOr<std::string> area = NonEmptyString(a, Cat("areas.zipcode.", zip));
                if (!area.ok()) return area.status();
                mapping.area_by_zipcode[zip] = *area;
                return absl::OkStatus();
              }));
        } else if (name == "zipcode_prefix") {
          CIVICPULSE_ASSIGN_OR_RETURN(mapping.zipcode_area_prefix,
                                      NonEmptyString(v, "areas.zipcode_prefix"));
        } else if (name == "default") {
          CIVICPULSE_ASSIGN_OR_RETURN(mapping.default_area, NonEmptyString(v, "areas.default"));
        } else if (name == "boxes") {
          if (!v.IsArray()) return absl::InvalidArgumentError("areas.boxes: must be an array");
          for (rapidjson::SizeType b = 0; b < v.Size(); ++b) {
            const std::string where = Cat("areas.boxes[", b, "]");
            const rapidjson::Value& box = v[b];
            if (!box.IsObject()) return absl::InvalidArgumentError(where + ": must be an object");
            GeoBox geo;
            int seen = 0;
            for (const auto& f : Members(box)) {
              const std::string_view k(f.name.GetString(), f.name.GetStringLength());
              const std::string at = Cat(where, ".", std::string(k));
              if (k == "area") {
                CIVICPULSE_ASSIGN_OR_RETURN(geo.area, NonEmptyString(f.value, at));
              } else if (k == "south") {
                CIVICPULSE_ASSIGN_OR_RETURN(geo.south, Number(f.value, at));
              } else if (k == "west") {
                CIVICPULSE_ASSIGN_OR_RETURN(geo.west, Number(f.value, at));
              } else if (k == "north") {
                CIVICPULSE_ASSIGN_OR_RETURN(geo.north, Number(f.value, at));
              } else if (k == "east") {
                CIVICPULSE_ASSIGN_OR_RETURN(geo.east, Number(f.value, at));
              } else {
                return absl::InvalidArgumentError(
                    Cat(at, ": unknown key (want area, south, west, north, east)"));
              }
              ++seen;
            }
            if (seen != 5) {
              return absl::InvalidArgumentError(where +
                                                ": needs area, south, west, north and east");
            }
            if (geo.south > geo.north || geo.west > geo.east || geo.south < -90 || geo.north > 90 ||
                geo.west < -180 || geo.east > 180) {
              return absl::InvalidArgumentError(
                  where +
                  ": needs -90 <= south <= north <= 90 and -180 <= west <= "
                  "east <= 180");
            }
            mapping.area_boxes.push_back(std::move(geo));
          }
        } else {
          return absl::InvalidArgumentError(
              Cat("areas: unknown key \"", std::string(name),
                  "\" (want zipcode, zipcode_prefix, boxes or default)"));
        }
      }
    } else {
      return absl::InvalidArgumentError(Cat("unknown key \"", std::string(key),
                                            "\" (want time_zone, sectors, areas or public_body)"));
    }
  }
  return mapping;
}

Open311Decoder::Open311Decoder(const Open311Mapping* mapping, Open311Options options)
    : mapping_(mapping), options_(options) {}

Open311Decoder::~Open311Decoder() = default;

absl::Status Open311Decoder::Decode(std::string_view request, std::string_view source,
                                    Event* event) {
  event->Clear();
  // Members' UTF-8 is checked as they are read (Text), naming the member.
  RequestMembers members(options_.max_json_depth, /*check_surrogates=*/false);
  rapidjson::Reader reader;
  CIVICPULSE_RETURN_IF_ERROR(ReadJsonObject(
      request, {.max_depth = options_.max_json_depth, .validate_utf8 = false, .subject = "request"},
      &insitu_, &reader, &members));

  std::string_view id;
  CIVICPULSE_RETURN_IF_ERROR(Text(members, kServiceRequestId, &id));
  if (id.empty()) CIVICPULSE_RETURN_IF_ERROR(Text(members, kToken, &id));
  if (id.empty()) {
    return RejectionError(kReasonMissingField, kFieldNames[kServiceRequestId],
                          "service_request_id: required (or a token)");
  }
  event->SetKind(Kind::kWatchReport);
  event->event_id = Cat("open311-", ToAbsl(source), "-", ToAbsl(id));
  event->source.assign(source);
  event->coproduction = CoproductionType::kCoAssessment;
  event->public_body = mapping_->public_body;

  const JsonMember& when = members[kRequestedDatetime];
  if (Absent(when)) {
    return RejectionError(kReasonMissingField, kFieldNames[kRequestedDatetime],
                          "requested_datetime: required");
  }
  if (when.type != JsonType::kString) {
    return WrongType(kRequestedDatetime, "a string", when.type);
  }
  if (!ParseDateTime(when.text, mapping_->time_zone, &event->occurred_at_ms)) {
    return RejectionError(kReasonInvalidTimestamp, kFieldNames[kRequestedDatetime],
                          Cat("requested_datetime: not a date-time (RFC 3339, "
                              "or YYYY-MM-DD HH:MM:SS "
                              "in the configured time zone): ",
                              Describe(when.text)));
  }

  std::string_view code, name;
  CIVICPULSE_RETURN_IF_ERROR(Text(members, kServiceCode, &code));
  CIVICPULSE_RETURN_IF_ERROR(Text(members, kServiceName, &name));
  event->category.assign(name.empty() ? code : name);
  if (auto it = mapping_->sector_by_service_code.find(code);
      !code.empty() && it != mapping_->sector_by_service_code.end()) {
    event->sector = it->second;
  } else if (auto it2 = mapping_->sector_by_service_name.find(name);
             !name.empty() && it2 != mapping_->sector_by_service_name.end()) {
    event->sector = it2->second;
  } else if (mapping_->default_sector) {
    event->sector = *mapping_->default_sector;
  }

  std::string_view zipcode;
  CIVICPULSE_RETURN_IF_ERROR(Text(members, kZipcode, &zipcode));
  zipcode = Trim(zipcode);
  if (zipcode == "0") zipcode = {};
  std::optional<double> lat, lon;
  CIVICPULSE_RETURN_IF_ERROR(Coordinate(members, kLat, 90, &lat));
  CIVICPULSE_RETURN_IF_ERROR(Coordinate(members, kLong, 180, &lon));
  if (lat && lon && *lat == 0 && *lon == 0) lat = lon = std::nullopt;
  if (!zipcode.empty()) {
    if (auto it = mapping_->area_by_zipcode.find(zipcode); it != mapping_->area_by_zipcode.end()) {
      event->area = it->second;
    } else if (!mapping_->zipcode_area_prefix.empty()) {
      event->area = Cat(mapping_->zipcode_area_prefix, ToAbsl(zipcode));
    }
  }
  if (event->area.empty() && lat && lon) {
    for (const GeoBox& box : mapping_->area_boxes) {
      if (box.Contains(*lat, *lon)) {
        event->area = box.area;
        break;
      }
    }
  }
  if (event->area.empty()) event->area = mapping_->default_area;
  if (event->area.empty()) {
    return RejectionError(kReasonUnmappedArea, kFieldNames[kZipcode],
                          "zipcode, lat/long: no configured area matches and no default area");
  }

  std::string_view account;
  CIVICPULSE_RETURN_IF_ERROR(Text(members, kAccountId, &account));
  event->has_participant = !account.empty();
  event->participant.assign(account);
  return absl::OkStatus();
}

}  // namespace civicpulse::core
