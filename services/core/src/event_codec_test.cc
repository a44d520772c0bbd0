#include "civicpulse/core/event_codec.h"

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "civicpulse/core/event.h"
#include "civicpulse/v1/event.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// absl::StrCat does not take std::string_view with Debian's abseil.
template <typename... Pieces>
std::string Cat(const Pieces&... pieces) {
  std::ostringstream out;
  (out << ... << pieces);
  return out.str();
}

std::string Hex(std::string_view bytes) {
  return absl::CHexEscape(absl::string_view(bytes.data(), bytes.size()));
}

int64_t Ms(std::string_view rfc3339) {
  int64_t ms = 0;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &ms)) << rfc3339;
  return ms;
}

// The receiving clock of every test: an hour after the docs/reference.md examples.
const int64_t kNow = Ms("2026-11-22T19:00:00Z");

constexpr std::string_view kWatchReport =
    R"({"event_id":"nw-2026-000123","kind":"watch_report","participant":"p-81","area":"W05",)"
    R"( "occurred_at":"2026-11-22T18:04:05Z","category":"suspicious_vehicle"})";
constexpr std::string_view kVolunteerShift =
    R"({"event_id":"vs-991","kind":"volunteer_shift","participant":"p-7","area":"W01",)"
    R"( "occurred_at":"2026-11-22T09:00:00+00:00","hours":3.5,"organisation":"City Hospital"})";
constexpr std::string_view kRecycling =
    R"({"event_id":"rc-55","kind":"recycling","participant":"p-300","area":"W12",)"
    R"( "occurred_at":"2026-11-22T11:30:00Z","weight_kg":4.2,"material":"glass"})";

// A valid shift whose fields tests replace one at a time. `extra` is spliced in last, after
// the fields it may repeat, so that a repeated key overrides (last one wins).
std::string Shift(std::string_view extra = "") {
  std::string json =
      R"({"event_id":"vs-1","kind":"volunteer_shift","participant":"p-1","area":"W01",)"
      R"("occurred_at":"2026-11-22T09:00:00Z","hours":2)";
  if (!extra.empty()) json.append(",").append(extra);
  json.append("}");
  return json;
}

// Builds a JSON event from (key, raw JSON value) pairs; a pair with value "" is left out.
std::string JsonWith(std::vector<std::pair<std::string, std::string>> overrides) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"event_id", R"("e-1")"},
      {"kind", R"("recycling")"},
      {"participant", R"("p-1")"},
      {"area", R"("W01")"},
      {"occurred_at", R"("2026-11-22T09:00:00Z")"},
      {"weight_kg", "1.5"}};
  for (auto& [key, value] : overrides) {
    bool replaced = false;
    for (auto& field : fields) {
      if (field.first == key) {
        field.second = value;
        replaced = true;
      }
    }
    if (!replaced) fields.emplace_back(key, value);
  }
  std::string json = "{";
  for (const auto& [key, value] : fields) {
    if (value.empty()) continue;
    if (json.size() > 1) json += ",";
    json += "\"" + key + "\":" + value;
  }
  return json + "}";
}

MATCHER_P2(IsRejection, reason, field,
           "is a rejection with reason " + std::string(reason) + " for field '" +
               std::string(field) + "'") {
  if (arg.ok()) {
    *result_listener << "which is OK";
    return false;
  }
  const Rejection rejection = RejectionOf(arg);
  *result_listener << "which is " << rejection.reason << " for '" << rejection.field
                   << "': " << rejection.detail;
  return arg.code() == absl::StatusCode::kInvalidArgument && rejection.reason == reason &&
         rejection.field == field;
}

class EventCodecTest : public ::testing::Test {
 protected:
  absl::Status DecodeJson(std::string_view json) {
    return codec_.Decode(json, Encoding::kJson, kNow, &event_);
  }
  absl::Status DecodeAuto(std::string_view value, bool json_hint = false) {
    return codec_.Decode(value, Encoding::kAuto, kNow, &event_, json_hint);
  }
  absl::Status DecodeProto(const civicpulse::v1::Event& proto) {
    return codec_.Decode(proto.SerializeAsString(), Encoding::kProtobuf, kNow, &event_);
  }

  EventCodec codec_;
  Event event_;
};

// ---- the docs/reference.md examples ----------------------------------------------------------------

TEST_F(EventCodecTest, AcceptsWatchReportExample) {
  ASSERT_TRUE(DecodeJson(kWatchReport).ok()) << RejectionOf(DecodeJson(kWatchReport)).detail;
  EXPECT_EQ(event_.event_id, "nw-2026-000123");
  EXPECT_EQ(event_.kind, Kind::kWatchReport);
  EXPECT_TRUE(event_.has_participant);
  EXPECT_EQ(event_.participant, "p-81");
  EXPECT_EQ(event_.area, "W05");
  EXPECT_EQ(event_.occurred_at_ms, Ms("2026-11-22T18:04:05Z"));
  EXPECT_EQ(event_.category, "suspicious_vehicle");
  EXPECT_EQ(event_.sector, Sector::kCommunitySafety);
  EXPECT_EQ(event_.mode, Mode::kCollective);
  EXPECT_TRUE(event_.public_body);
  EXPECT_EQ(event_.coproduction, CoproductionType::kCoDelivery);
  EXPECT_EQ(event_.age_band, AgeBand::kNone);
  EXPECT_EQ(event_.hours, 0);
  EXPECT_EQ(event_.weight_kg, 0);
}

TEST_F(EventCodecTest, AcceptsVolunteerShiftExample) {
  ASSERT_TRUE(DecodeJson(kVolunteerShift).ok());
  EXPECT_EQ(event_.kind, Kind::kVolunteerShift);
  EXPECT_EQ(event_.occurred_at_ms, Ms("2026-11-22T09:00:00Z"));
  EXPECT_EQ(event_.hours, 3.5);
  EXPECT_EQ(event_.organisation, "City Hospital");
  EXPECT_EQ(event_.sector, Sector::kPublicHealth);
  EXPECT_EQ(event_.mode, Mode::kCollective);
  EXPECT_TRUE(event_.public_body);
  EXPECT_EQ(event_.coproduction, CoproductionType::kCoDelivery);
}

TEST_F(EventCodecTest, AcceptsRecyclingExample) {
  ASSERT_TRUE(DecodeJson(kRecycling).ok());
  EXPECT_EQ(event_.kind, Kind::kRecycling);
  EXPECT_EQ(event_.weight_kg, 4.2);
  EXPECT_EQ(event_.material, "glass");
  EXPECT_EQ(event_.sector, Sector::kLocalEnvironment);
  EXPECT_EQ(event_.mode, Mode::kIndividual);
  EXPECT_TRUE(event_.public_body);
  EXPECT_EQ(event_.coproduction, CoproductionType::kCoDelivery);
}

TEST_F(EventCodecTest, AutoDetectsTheExamplesAsJson) {
  for (std::string_view json : {kWatchReport, kVolunteerShift, kRecycling}) {
    EXPECT_TRUE(DecodeAuto(json).ok()) << json;
  }
}

// ---- optional fields ---------------------------------------------------------------------------

TEST_F(EventCodecTest, ExplicitOptionalValuesOverrideTheDefaults) {
  ASSERT_TRUE(DecodeJson(Shift(R"("sector":"community_safety","mode":"individual",)"
                               R"("public_body":false,"coproduction":"co_design",)"
                               R"("age_band":"65-74","source":"simulator","category":"c",)"
                               R"("material":"m","organisation":"o")"))
                  .ok());
  EXPECT_EQ(event_.sector, Sector::kCommunitySafety);
  EXPECT_EQ(event_.mode, Mode::kIndividual);
  EXPECT_FALSE(event_.public_body);
  EXPECT_EQ(event_.coproduction, CoproductionType::kCoDesign);
  EXPECT_EQ(event_.age_band, AgeBand::k65To74);
  EXPECT_EQ(event_.source, "simulator");
  EXPECT_EQ(event_.category, "c");
  EXPECT_EQ(event_.material, "m");
  EXPECT_EQ(event_.organisation, "o");
}

TEST_F(EventCodecTest, EveryCoproductionTypeAndSectorParses) {
  for (auto [name, type] : std::vector<std::pair<std::string, CoproductionType>>{
           {"co_commissioning", CoproductionType::kCoCommissioning},
           {"co_design", CoproductionType::kCoDesign},
           {"co_delivery", CoproductionType::kCoDelivery},
           {"co_assessment", CoproductionType::kCoAssessment}}) {
    ASSERT_TRUE(DecodeJson(Shift(R"("coproduction":")" + name + "\"")).ok()) << name;
    EXPECT_EQ(event_.coproduction, type);
  }
  for (auto [name, sector] :
       std::vector<std::pair<std::string, Sector>>{{"community_safety", Sector::kCommunitySafety},
                                                   {"local_environment", Sector::kLocalEnvironment},
                                                   {"public_health", Sector::kPublicHealth}}) {
    ASSERT_TRUE(DecodeJson(Shift(R"("sector":")" + name + "\"")).ok()) << name;
    EXPECT_EQ(event_.sector, sector);
  }
}

TEST_F(EventCodecTest, NullOptionalFieldsMeanAbsent) {
  ASSERT_TRUE(DecodeJson(JsonWith({{"sector", "null"},
                                   {"mode", "null"},
                                   {"public_body", "null"},
                                   {"coproduction", "null"},
                                   {"age_band", "null"},
                                   {"category", "null"},
                                   {"organisation", "null"},
                                   {"material", "null"},
                                   {"source", "null"}}))
                  .ok());
  EXPECT_EQ(event_.sector, Sector::kLocalEnvironment);
  EXPECT_EQ(event_.mode, Mode::kIndividual);
  EXPECT_TRUE(event_.public_body);
  EXPECT_EQ(event_.coproduction, CoproductionType::kCoDelivery);
  EXPECT_EQ(event_.age_band, AgeBand::kNone);
  EXPECT_EQ(event_.category, "");
}

TEST_F(EventCodecTest, UnknownFieldsAreIgnored) {
  ASSERT_TRUE(DecodeJson(Shift(R"("colour":"red","nested":{"a":[1,2,{"b":null}]},)"
                               R"("x":1e10,"":"empty key","hours_extra":"3")"))
                  .ok());
  EXPECT_EQ(event_.hours, 2);
}

TEST_F(EventCodecTest, RepeatedKeyTakesTheLastValue) {
  ASSERT_TRUE(DecodeJson(Shift(R"("hours":5)")).ok());
  EXPECT_EQ(event_.hours, 5);
}

TEST_F(EventCodecTest, MeasureOfAnotherKindIsIgnored) {
  ASSERT_TRUE(DecodeJson(JsonWith({{"hours", R"("not even a number")"}})).ok());
  EXPECT_EQ(event_.hours, 0);
  EXPECT_EQ(event_.weight_kg, 1.5);
}

TEST_F(EventCodecTest, AgeBands) {
  const std::vector<std::pair<std::string, AgeBand>> cases = {
      {"16-24", AgeBand::k16To24},    {"25-34", AgeBand::k25To34},  {"35-44", AgeBand::k35To44},
      {"45-54", AgeBand::k45To54},    {"55-64", AgeBand::k55To64},  {"65-74", AgeBand::k65To74},
      {"75+", AgeBand::k75Plus},      {"15-19", AgeBand::kUnknown}, {"old", AgeBand::kUnknown},
      {"unknown", AgeBand::kUnknown}, {"", AgeBand::kNone}};
  for (const auto& [text, band] : cases) {
    ASSERT_TRUE(DecodeJson(Shift(R"("age_band":")" + text + "\"")).ok()) << text;
    EXPECT_EQ(event_.age_band, band) << text;
  }
}

// ---- rejections: required fields ---------------------------------------------------------------

class RequiredFieldTest : public EventCodecTest,
                          public ::testing::WithParamInterface<std::string> {};

TEST_P(RequiredFieldTest, AbsentIsMissingField) {
  EXPECT_THAT(DecodeJson(JsonWith({{GetParam(), ""}})),
              IsRejection(kReasonMissingField, GetParam()));
}

TEST_P(RequiredFieldTest, NullIsMissingField) {
  EXPECT_THAT(DecodeJson(JsonWith({{GetParam(), "null"}})),
              IsRejection(kReasonMissingField, GetParam()));
}

TEST_P(RequiredFieldTest, EmptyIsMissingField) {
  EXPECT_THAT(DecodeJson(JsonWith({{GetParam(), R"("")"}})),
              IsRejection(kReasonMissingField, GetParam()));
}

TEST_P(RequiredFieldTest, NumberIsWrongType) {
  EXPECT_THAT(DecodeJson(JsonWith({{GetParam(), "7"}})), IsRejection(kReasonWrongType, GetParam()));
}

TEST_P(RequiredFieldTest, ObjectIsWrongType) {
  EXPECT_THAT(DecodeJson(JsonWith({{GetParam(), R"({"v":"x"})"}})),
              IsRejection(kReasonWrongType, GetParam()));
}

INSTANTIATE_TEST_SUITE_P(AllRequired, RequiredFieldTest,
                         ::testing::Values("event_id", "kind", "participant", "area",
                                           "occurred_at"));

TEST_F(EventCodecTest, DetailNamesTheField) {
  const Rejection rejection = RejectionOf(DecodeJson(JsonWith({{"area", ""}})));
  EXPECT_EQ(rejection.reason, "missing_field");
  EXPECT_EQ(rejection.field, "area");
  EXPECT_THAT(rejection.detail, HasSubstr("area"));
}

TEST_F(EventCodecTest, FirstBrokenFieldInFieldOrderIsReported) {
  EXPECT_THAT(DecodeJson(R"({"area":5,"kind":"nope"})"),
              IsRejection(kReasonMissingField, "event_id"));
  EXPECT_THAT(DecodeJson(R"({"event_id":"e","area":5,"kind":"nope"})"),
              IsRejection(kReasonInvalidValue, "kind"));
}

// ---- rejections: kind and enums ---------------------------------------------------------------

TEST_F(EventCodecTest, UnknownKindIsInvalidValue) {
  const absl::Status status = DecodeJson(JsonWith({{"kind", R"("litter_pick")"}}));
  EXPECT_THAT(status, IsRejection(kReasonInvalidValue, "kind"));
  // Details describe a value, never quote it (it may be an id in the wrong field).
  EXPECT_THAT(RejectionOf(status).detail, HasSubstr("(a value of 11 bytes)"));
  EXPECT_THAT(RejectionOf(status).detail, Not(HasSubstr("litter_pick")));
  EXPECT_THAT(DecodeJson(JsonWith({{"kind", R"("Recycling")"}})),
              IsRejection(kReasonInvalidValue, "kind"));
}

TEST_F(EventCodecTest, UnknownEnumStringsAreInvalidValue) {
  for (const std::string field : {"sector", "mode", "coproduction"}) {
    EXPECT_THAT(DecodeJson(JsonWith({{field, R"("bogus")"}})),
                IsRejection(kReasonInvalidValue, field));
    EXPECT_THAT(DecodeJson(JsonWith({{field, R"("")"}})), IsRejection(kReasonInvalidValue, field));
    EXPECT_THAT(DecodeJson(JsonWith({{field, "1"}})), IsRejection(kReasonWrongType, field));
  }
}

TEST_F(EventCodecTest, WrongTypesOfOptionalFields) {
  EXPECT_THAT(DecodeJson(JsonWith({{"public_body", R"("true")"}})),
              IsRejection(kReasonWrongType, "public_body"));
  EXPECT_THAT(DecodeJson(JsonWith({{"public_body", "1"}})),
              IsRejection(kReasonWrongType, "public_body"));
  for (const std::string field : {"category", "organisation", "material", "age_band", "source"}) {
    EXPECT_THAT(DecodeJson(JsonWith({{field, "65"}})), IsRejection(kReasonWrongType, field));
    EXPECT_THAT(DecodeJson(JsonWith({{field, "[]"}})), IsRejection(kReasonWrongType, field));
  }
}

// ---- rejections: kind-specific measures ---------------------------------------------------------

TEST_F(EventCodecTest, HoursRequiredForShifts) {
  const std::string no_hours =
      R"({"event_id":"vs-1","kind":"volunteer_shift","participant":"p-1","area":"W01",)"
      R"("occurred_at":"2026-11-22T09:00:00Z"})";
  EXPECT_THAT(DecodeJson(no_hours), IsRejection(kReasonMissingField, "hours"));
  EXPECT_THAT(DecodeJson(Shift(R"("hours":null)")), IsRejection(kReasonMissingField, "hours"));
}

TEST_F(EventCodecTest, HoursRange) {
  for (std::string_view hours : {"0", "-1", "24.01", "30", "0.0", "1e300"}) {
    EXPECT_THAT(DecodeJson(Shift(Cat(R"("hours":)", hours))),
                IsRejection(kReasonOutOfRange, "hours"))
        << hours;
  }
  for (double hours : {0.01, 1.0, 23.99, 24.0}) {
    ASSERT_TRUE(DecodeJson(Shift(Cat(R"("hours":)", hours))).ok()) << hours;
    EXPECT_EQ(event_.hours, hours);
  }
}

TEST_F(EventCodecTest, NumberSpellings) {
  for (auto [text, hours] : std::vector<std::pair<std::string, double>>{
           {"2e1", 20}, {"2.5E+1", 0}, {"0.5e-0", 0.5}, {"3", 3}, {"24.000", 24}}) {
    const absl::Status status = DecodeJson(Shift(Cat(R"("hours":)", text)));
    if (hours == 0) {
      EXPECT_THAT(status, IsRejection(kReasonOutOfRange, "hours")) << text;
    } else {
      ASSERT_TRUE(status.ok()) << text;
      EXPECT_EQ(event_.hours, hours) << text;
    }
  }
  for (std::string_view text : {"-0", "1e-400", "-1e-400"}) {
    EXPECT_THAT(DecodeJson(Shift(Cat(R"("hours":)", text))),
                IsRejection(kReasonOutOfRange, "hours"))
        << text;
  }
  for (std::string_view text : {"+3", ".5", "3.", "0x10", "NaN", "Infinity", "1e999"}) {
    EXPECT_THAT(DecodeJson(Shift(Cat(R"("hours":)", text))), IsRejection(kReasonInvalidJson, ""))
        << text;
  }
}

TEST_F(EventCodecTest, OutOfRangeDetailStatesTheRuleNotTheValue) {
  EXPECT_EQ(RejectionOf(DecodeJson(Shift(R"("hours":30)"))).detail,
            "hours: must be > 0 and <= 24, got more");
  EXPECT_EQ(RejectionOf(DecodeJson(JsonWith({{"weight_kg", "447700900123"}}))).detail,
            "weight_kg: must be > 0 and <= 1000, got more");
}

TEST_F(EventCodecTest, NumbersAsStringsAreWrongType) {
  EXPECT_THAT(DecodeJson(Shift(R"("hours":"3.5")")), IsRejection(kReasonWrongType, "hours"));
  EXPECT_THAT(DecodeJson(Shift(R"("hours":true)")), IsRejection(kReasonWrongType, "hours"));
  EXPECT_THAT(DecodeJson(JsonWith({{"weight_kg", R"("4.2")"}})),
              IsRejection(kReasonWrongType, "weight_kg"));
  EXPECT_EQ(RejectionOf(DecodeJson(Shift(R"("hours":"3.5")"))).detail,
            "hours: must be a number, got string");
}

TEST_F(EventCodecTest, WeightRequiredForRecyclingAndInRange) {
  EXPECT_THAT(DecodeJson(JsonWith({{"weight_kg", ""}})),
              IsRejection(kReasonMissingField, "weight_kg"));
  EXPECT_THAT(DecodeJson(JsonWith({{"weight_kg", "null"}})),
              IsRejection(kReasonMissingField, "weight_kg"));
  for (std::string_view weight : {"0", "-4.2", "1000.001", "5000"}) {
    EXPECT_THAT(DecodeJson(JsonWith({{"weight_kg", std::string(weight)}})),
                IsRejection(kReasonOutOfRange, "weight_kg"))
        << weight;
  }
  ASSERT_TRUE(DecodeJson(JsonWith({{"weight_kg", "1000"}})).ok());
  EXPECT_EQ(event_.weight_kg, 1000);
  ASSERT_TRUE(DecodeJson(JsonWith({{"weight_kg", "7"}})).ok());
  EXPECT_EQ(event_.weight_kg, 7);
}

TEST_F(EventCodecTest, WatchReportNeedsNoMeasure) {
  EXPECT_TRUE(DecodeJson(JsonWith({{"kind", R"("watch_report")"}, {"weight_kg", ""}})).ok());
}

// ---- timestamps ---------------------------------------------------------------------------------

TEST_F(EventCodecTest, TimestampOffsets) {
  const int64_t utc = Ms("2026-11-22T09:00:00Z");
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"2026-11-22T10:00:00+01:00", utc},
      {"2026-11-22T03:30:00-05:30", utc},
      {"2026-11-22T09:00:00+00:00", utc},
      {"2026-11-22T09:00:00-00:00", utc},
      {"2026-11-22t09:00:00z", utc},
      {"2026-11-22T09:00:00.5Z", utc + 500},
      {"2026-11-22T09:00:00.123456789Z", utc + 123},
      {"2026-11-22T10:00:00.25+01:00", utc + 250},
      {"2026-11-23T00:00:00+15:00", utc},
  };
  for (const auto& [text, ms] : cases) {
    ASSERT_TRUE(DecodeJson(JsonWith({{"occurred_at", "\"" + text + "\""}})).ok()) << text;
    EXPECT_EQ(event_.occurred_at_ms, ms) << text;
  }
}

TEST_F(EventCodecTest, MalformedTimestampsAreInvalidTimestamp) {
  for (std::string_view text : {"2026-11-22T09:00:00",        // no offset
                                "2026-11-22T09:00:00.5",      // no offset after a fraction
                                "2026-11-22",                 // date only
                                "2026-13-01T00:00:00Z",       // month 13
                                "2026-00-10T00:00:00Z",       // month 0
                                "2026-02-30T00:00:00Z",       // Feb 30
                                "2026-04-31T00:00:00Z",       // April 31
                                "2026-11-00T00:00:00Z",       // day 0
                                "2027-02-29T00:00:00Z",       // not a leap year
                                "1900-02-29T00:00:00Z",       // century, not a leap year
                                "2026-11-22T24:00:00Z",       // hour 24
                                "2026-11-22T09:60:00Z",       // minute 60
                                "2026-11-22T23:59:60Z",       // leap second: not accepted
                                "2026-11-22T09:00:00.Z",      // empty fraction
                                "2026-11-22T09:00:00+0100",   // offset without colon
                                "2026-11-22T09:00:00+01",     // short offset
                                "2026-11-22T09:00:00+24:00",  // offset hour 24
                                "2026-11-22T09:00:00+01:60",  // offset minute 60
                                "2026-11-22T09:00:00Z ",      // trailing space
                                "2026-11-22 09:00:00Z",       // space separator
                                "26-11-22T09:00:00Z",         // two-digit year
                                "2026-1-22T09:00:00Z",        // one-digit month
                                "1763802000",                 // epoch seconds
                                "0000-12-31T23:59:59Z",       // before 0001
                                "0001-01-01T00:00:00+00:01",  // before 0001 after the offset
                                "yesterday"}) {
    EXPECT_THAT(DecodeJson(JsonWith({{"occurred_at", Cat("\"", text, "\"")}})),
                IsRejection(kReasonInvalidTimestamp, "occurred_at"))
        << text;
  }
}

TEST_F(EventCodecTest, LeapDays) {
  for (std::string_view text :
       {"2020-02-29T12:00:00Z", "2000-02-29T12:00:00Z", "2024-02-29T00:00:00+01:00"}) {
    EXPECT_TRUE(DecodeJson(JsonWith({{"occurred_at", Cat("\"", text, "\"")}})).ok()) << text;
  }
  int64_t ms = 0;
  EXPECT_TRUE(ParseRfc3339("2028-02-29T23:59:59-12:00", &ms));
  EXPECT_EQ(ms, Ms("2028-03-01T11:59:59Z"));
  EXPECT_FALSE(ParseRfc3339("2100-02-29T00:00:00Z", &ms));
}

TEST_F(EventCodecTest, FutureTimestamps) {
  const CodecOptions defaults;
  ASSERT_EQ(defaults.max_future_ms, 600'000);
  auto at = [](int64_t ms) { return Cat("\"", FormatRfc3339(ms), "\""); };
  EXPECT_TRUE(DecodeJson(JsonWith({{"occurred_at", at(kNow + 600'000)}})).ok());
  EXPECT_THAT(DecodeJson(JsonWith({{"occurred_at", at(kNow + 600'001)}})),
              IsRejection(kReasonFutureTimestamp, "occurred_at"));
  EXPECT_THAT(DecodeJson(JsonWith({{"occurred_at", R"("2099-01-01T00:00:00Z")"}})),
              IsRejection(kReasonFutureTimestamp, "occurred_at"));
  // An offset that moves the instant into the future counts.
  EXPECT_THAT(DecodeJson(JsonWith({{"occurred_at", R"("2026-11-22T19:15:00+00:00")"}})),
              IsRejection(kReasonFutureTimestamp, "occurred_at"));
  EXPECT_TRUE(DecodeJson(JsonWith({{"occurred_at", R"("2026-11-22T19:15:00+01:00")"}})).ok());
  // Old events are not the codec's concern (lateness is the aggregator's).
  EXPECT_TRUE(DecodeJson(JsonWith({{"occurred_at", R"("1999-01-01T00:00:00Z")"}})).ok());
}

TEST_F(EventCodecTest, FutureLimitIsAnOption) {
  EventCodec strict(CodecOptions{.max_future_ms = 0});
  Event event;
  const std::string now = Cat("\"", FormatRfc3339(kNow), "\"");
  const std::string later = Cat("\"", FormatRfc3339(kNow + 1), "\"");
  EXPECT_TRUE(strict.Decode(JsonWith({{"occurred_at", now}}), Encoding::kJson, kNow, &event).ok());
  EXPECT_THAT(strict.Decode(JsonWith({{"occurred_at", later}}), Encoding::kJson, kNow, &event),
              IsRejection(kReasonFutureTimestamp, "occurred_at"));
}

TEST(Rfc3339Test, KnownInstants) {
  int64_t ms = -1;
  ASSERT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z", &ms));
  EXPECT_EQ(ms, 0);
  ASSERT_TRUE(ParseRfc3339("2026-11-22T18:04:05Z", &ms));
  EXPECT_EQ(ms, 1795370645000);
  ASSERT_TRUE(ParseRfc3339("1969-12-31T23:59:59.999Z", &ms));
  EXPECT_EQ(ms, -1);
  ASSERT_TRUE(ParseRfc3339("2000-03-01T00:00:00Z", &ms));
  EXPECT_EQ(ms, 951868800000);
  ASSERT_TRUE(ParseRfc3339("0001-01-01T00:00:00Z", &ms));
  EXPECT_EQ(ms, -62135596800000);
  ASSERT_TRUE(ParseRfc3339("9999-12-31T23:59:59.999Z", &ms));
  EXPECT_EQ(ms, 253402300799999);
}

TEST(Rfc3339Test, Formats) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1795370645000), "2026-11-22T18:04:05Z");
  EXPECT_EQ(FormatRfc3339(1795370645123), "2026-11-22T18:04:05.123Z");
  EXPECT_EQ(FormatRfc3339(1795370645007), "2026-11-22T18:04:05.007Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(951782400000), "2000-02-29T00:00:00Z");
}

TEST(Rfc3339Test, FormatThenParseRoundTrips) {
  // Every day of a leap year and around the epoch, at an awkward time of day.
  for (int64_t day = -400; day < 800; ++day) {
    const int64_t ms = day * 86'400'000 + 12'345'678;
    int64_t back = 0;
    ASSERT_TRUE(ParseRfc3339(FormatRfc3339(ms), &back)) << FormatRfc3339(ms);
    EXPECT_EQ(back, ms);
  }
}

// ---- rejections: the value as a whole
// ------------------------------------------------------------

TEST_F(EventCodecTest, InvalidJson) {
  for (std::string_view value :
       {std::string_view(kWatchReport).substr(0, 40),  // truncated
        std::string_view("{"), std::string_view(""), std::string_view("   "),
        std::string_view("{\"event_id\":}"), std::string_view("{'event_id':'x'}"),
        std::string_view("{\"a\":1} {\"b\":2}"),  // two roots
        std::string_view("{\"a\":1}x"), std::string_view("{\"a\":01}"),
        std::string_view("{\"a\":1e999}"),        // number too big
        std::string_view("{\"a\":\"\\uD800\"}"),  // lone surrogate escape
        std::string_view("hello")}) {
    EXPECT_THAT(DecodeJson(value), IsRejection(kReasonInvalidJson, "")) << value;
  }
}

TEST_F(EventCodecTest, NulByteIsInvalidJsonEvenAfterAValidObject) {
  std::string value(kWatchReport);
  value.push_back('\0');
  value.append("garbage");
  EXPECT_THAT(DecodeJson(value), IsRejection(kReasonInvalidJson, ""));
}

TEST_F(EventCodecTest, EscapedNulInsideAStringIsKept) {
  ASSERT_TRUE(DecodeJson(JsonWith({{"category", R"("a\u0000b")"}})).ok());
  EXPECT_EQ(event_.category, std::string("a\0b", 3));
}

TEST_F(EventCodecTest, EscapedLoneSurrogatesAreInvalidJson) {
  // A low surrogate without a high one would unescape to bytes that are not UTF-8.
  for (std::string_view escaped : {R"("\udeb2")", R"("a\uDC00b")", R"("\ud66d\udeb2")"}) {
    EXPECT_THAT(DecodeJson(JsonWith({{"participant", std::string(escaped)}})),
                IsRejection(kReasonInvalidJson, "participant"))
        << escaped;
  }
  // In a field that is ignored it does no harm.
  EXPECT_TRUE(DecodeJson(JsonWith({{"ignored", R"("\udeb2")"}})).ok());
  // A proper pair is fine.
  ASSERT_TRUE(DecodeJson(JsonWith({{"participant", R"("\ud83d\udeb2")"}})).ok());
  EXPECT_EQ(event_.participant, "\xF0\x9F\x9A\xB2");
}

TEST_F(EventCodecTest, NotAnObject) {
  for (std::string_view value :
       {"[1,2]", "[]", "42", "-1.5", "\"string\"", "true", "false", "null"}) {
    EXPECT_THAT(DecodeJson(value), IsRejection(kReasonNotAnObject, "")) << value;
    EXPECT_THAT(DecodeAuto(value), IsRejection(kReasonNotAnObject, "")) << value;
  }
}

TEST_F(EventCodecTest, InvalidUtf8) {
  for (std::string_view bad :
       {"\xC3\x28", "\xC0\xAF", "\xE2\x82", "\xED\xA0\x80", "\xFF", "\xF4\x90\x80\x80"}) {
    EXPECT_THAT(DecodeJson(JsonWith({{"category", Cat("\"ok", bad, "\"")}})),
                IsRejection(kReasonInvalidUtf8, ""))
        << Hex(bad);
  }
  for (std::string_view bad :
       {"\xE0\x80\x80", "\xF0\x80\x80\x80", "\xF8\x88\x80\x80\x80", "\x80", "\xC2"}) {
    EXPECT_THAT(DecodeJson(JsonWith({{"category", Cat("\"", bad, "\"")}})),
                IsRejection(kReasonInvalidUtf8, ""))
        << Hex(bad);
  }
  // Outside a string too.
  EXPECT_THAT(DecodeJson(Shift("\"x\":1\xFF")), IsRejection(kReasonInvalidUtf8, ""));
  // The edges of the valid ranges: U+D7FF, U+E000, U+10FFFF.
  ASSERT_TRUE(
      DecodeJson(JsonWith({{"category", "\"\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF\""}})).ok());
  EXPECT_EQ(event_.category, "\xED\x9F\xBF\xEE\x80\x80\xF4\x8F\xBF\xBF");
  ASSERT_TRUE(DecodeJson(JsonWith({{"area", "\"Zürich-Süd ✓ 🚲\""}})).ok());
  EXPECT_EQ(event_.area, "Zürich-Süd ✓ 🚲");
}

// The value's bytes are checked 16 at a time (NUL, non-ASCII, backslash) and strings are
// scanned 16 at a time: what breaks a value, or must survive its parse, is found at every
// offset from a 16-byte boundary, in the middle of the value and in its tail.
TEST_F(EventCodecTest, BytesAreCheckedAtEveryOffset) {
  for (size_t pad = 0; pad < 48; ++pad) {
    const std::string a(pad, 'a');
    auto category = [&](std::string_view text) {
      return JsonWith({{"category", Cat("\"", a, text, "\"")}});
    };
    auto tail = [&](std::string_view text) { return Shift(Cat("\"z\":\"", a, text, "\"")); };
    for (const std::string& value :
         {category(std::string_view("x\0y", 3)), tail(std::string_view("x\0y", 3))}) {
      EXPECT_THAT(DecodeJson(value), IsRejection(kReasonInvalidJson, "")) << pad;
      EXPECT_THAT(RejectionOf(DecodeJson(value)).detail, HasSubstr("contains a NUL byte")) << pad;
    }
    EXPECT_THAT(DecodeJson(category("x\xFFy")), IsRejection(kReasonInvalidUtf8, "")) << pad;
    EXPECT_THAT(DecodeJson(tail("x\xC3y")), IsRejection(kReasonInvalidUtf8, "")) << pad;
    EXPECT_THAT(DecodeJson(JsonWith({{"participant", Cat("\"", a, R"(\udc00")")}})),
                IsRejection(kReasonInvalidJson, "participant"))
        << pad;

    ASSERT_TRUE(DecodeJson(category("Süd-✓")).ok()) << pad;
    EXPECT_EQ(event_.category, Cat(a, "Süd-✓"));
    ASSERT_TRUE(DecodeJson(category(R"(q\"b\\c\nd\u00fc)")).ok()) << pad;
    EXPECT_EQ(event_.category, Cat(a, "q\"b\\c\nd\xC3\xBC"));
    ASSERT_TRUE(DecodeJson(JsonWith({{"participant", Cat("\"", a, R"(\ud83d\udeb2")")}})).ok())
        << pad;
    EXPECT_EQ(event_.participant, Cat(a, "\xF0\x9F\x9A\xB2"));
  }
}

TEST_F(EventCodecTest, NestingDepth) {
  auto nested = [](int depth) {
    // The event object is level 1; `depth - 1` more levels in an unknown field.
    std::string inner = "1";
    for (int i = 1; i < depth; ++i) inner = (i % 2 ? "[" : "{\"k\":") + inner + (i % 2 ? "]" : "}");
    return Shift(R"("deep":)" + inner);
  };
  EXPECT_TRUE(DecodeJson(nested(16)).ok());
  EXPECT_THAT(DecodeJson(nested(17)), IsRejection(kReasonInvalidJson, ""));
  EXPECT_THAT(RejectionOf(DecodeJson(nested(17))).detail, HasSubstr("deeper than 16"));
  // Far beyond any stack: must be refused cheaply, not crash.
  EXPECT_THAT(DecodeJson(std::string(60'000, '[')), IsRejection(kReasonInvalidJson, ""));
  EXPECT_TRUE(DecodeJson(kWatchReport).ok());
}

TEST_F(EventCodecTest, TooLarge) {
  EventCodec small(CodecOptions{.max_value_bytes = 100});
  Event event;
  EXPECT_THAT(small.Decode(kWatchReport, Encoding::kJson, kNow, &event),
              IsRejection(kReasonTooLarge, ""));
  EXPECT_THAT(small.Decode(kWatchReport, Encoding::kAuto, kNow, &event),
              IsRejection(kReasonTooLarge, ""));
  EXPECT_THAT(small.Decode(std::string(101, 'x'), Encoding::kProtobuf, kNow, &event),
              IsRejection(kReasonTooLarge, ""));
  const std::string padding(64 * 1024, ' ');
  EXPECT_THAT(DecodeJson(Cat(kWatchReport, padding)), IsRejection(kReasonTooLarge, ""));
  // Big but within the limit: decodes (and spills past the codec's fixed pool).
  std::string big_unknown = R"("blob":[)";
  for (int i = 0; i < 5000; ++i) big_unknown += i ? ",1" : "1";
  big_unknown += "]";
  EXPECT_TRUE(DecodeJson(Shift(big_unknown)).ok());
  EXPECT_TRUE(DecodeJson(kRecycling).ok());
}

// ---- protobuf ---------------------------------------------------------------------------------

civicpulse::v1::Event ProtoShift() {
  civicpulse::v1::Event p;
  p.set_event_id("vs-991");
  p.set_kind(civicpulse::v1::KIND_VOLUNTEER_SHIFT);
  p.set_participant("p-7");
  p.set_area("W01");
  p.mutable_occurred_at()->set_seconds(Ms("2026-11-22T09:00:00Z") / 1000);
  p.set_hours(3.5);
  p.set_organisation("City Hospital");
  return p;
}

TEST_F(EventCodecTest, ProtobufDecodesWithDefaults) {
  ASSERT_TRUE(DecodeProto(ProtoShift()).ok());
  EXPECT_EQ(event_.event_id, "vs-991");
  EXPECT_EQ(event_.kind, Kind::kVolunteerShift);
  EXPECT_TRUE(event_.has_participant);
  EXPECT_EQ(event_.participant, "p-7");
  EXPECT_EQ(event_.occurred_at_ms, Ms("2026-11-22T09:00:00Z"));
  EXPECT_EQ(event_.hours, 3.5);
  EXPECT_EQ(event_.organisation, "City Hospital");
  EXPECT_EQ(event_.sector, Sector::kPublicHealth);
  EXPECT_EQ(event_.mode, Mode::kCollective);
  EXPECT_TRUE(event_.public_body);
  EXPECT_EQ(event_.coproduction, CoproductionType::kCoDelivery);
  EXPECT_EQ(event_.age_band, AgeBand::kNone);
}

TEST_F(EventCodecTest, ProtobufExplicitValues) {
  civicpulse::v1::Event p = ProtoShift();
  p.set_sector(civicpulse::v1::SECTOR_LOCAL_ENVIRONMENT);
  p.set_mode(civicpulse::v1::MODE_INDIVIDUAL);
  p.set_public_body(false);
  p.set_coproduction(civicpulse::v1::COPRODUCTION_TYPE_CO_ASSESSMENT);
  p.set_age_band("75+");
  p.set_source("open311");
  p.mutable_occurred_at()->set_nanos(250'999'999);
  ASSERT_TRUE(DecodeProto(p).ok());
  EXPECT_EQ(event_.sector, Sector::kLocalEnvironment);
  EXPECT_EQ(event_.mode, Mode::kIndividual);
  EXPECT_FALSE(event_.public_body);
  EXPECT_EQ(event_.coproduction, CoproductionType::kCoAssessment);
  EXPECT_EQ(event_.age_band, AgeBand::k75Plus);
  EXPECT_EQ(event_.source, "open311");
  EXPECT_EQ(event_.occurred_at_ms, Ms("2026-11-22T09:00:00.250Z"));
}

TEST_F(EventCodecTest, ProtobufAnonymousReport) {
  civicpulse::v1::Event p = ProtoShift();
  p.set_kind(civicpulse::v1::KIND_WATCH_REPORT);
  p.clear_participant();
  ASSERT_TRUE(DecodeProto(p).ok());
  EXPECT_FALSE(event_.has_participant);
  EXPECT_EQ(event_.participant, "");
  EXPECT_EQ(event_.hours, 0);  // not a shift
  p.set_participant("");
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonMissingField, "participant"));
}

TEST_F(EventCodecTest, ProtobufRejections) {
  civicpulse::v1::Event p = ProtoShift();
  p.clear_event_id();
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonMissingField, "event_id"));

  p = ProtoShift();
  p.set_kind(civicpulse::v1::KIND_UNSPECIFIED);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonMissingField, "kind"));
  p.set_kind(static_cast<civicpulse::v1::Kind>(9));
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonInvalidValue, "kind"));

  p = ProtoShift();
  p.clear_area();
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonMissingField, "area"));

  p = ProtoShift();
  p.clear_occurred_at();
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonMissingField, "occurred_at"));
  p.mutable_occurred_at()->set_seconds(Ms("2026-11-22T09:00:00Z") / 1000);
  p.mutable_occurred_at()->set_nanos(-1);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonInvalidTimestamp, "occurred_at"));
  p.mutable_occurred_at()->set_nanos(1'000'000'000);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonInvalidTimestamp, "occurred_at"));
  p.mutable_occurred_at()->set_nanos(0);
  p.mutable_occurred_at()->set_seconds(300'000'000'000);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonInvalidTimestamp, "occurred_at"));
  p.mutable_occurred_at()->set_seconds(kNow / 1000 + 601);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonFutureTimestamp, "occurred_at"));

  p = ProtoShift();
  p.clear_hours();
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonMissingField, "hours"));
  p.set_hours(24.5);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonOutOfRange, "hours"));
  p.set_hours(-2);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonOutOfRange, "hours"));

  p = ProtoShift();
  p.set_kind(civicpulse::v1::KIND_RECYCLING);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonMissingField, "weight_kg"));
  p.set_weight_kg(1001);
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonOutOfRange, "weight_kg"));

  p = ProtoShift();
  p.set_sector(static_cast<civicpulse::v1::Sector>(4));
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonInvalidValue, "sector"));
  p = ProtoShift();
  p.set_mode(static_cast<civicpulse::v1::Mode>(3));
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonInvalidValue, "mode"));
  p = ProtoShift();
  p.set_coproduction(static_cast<civicpulse::v1::CoproductionType>(5));
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonInvalidValue, "coproduction"));
}

TEST_F(EventCodecTest, ProtobufGarbageIsInvalidProtobuf) {
  const std::string valid = ProtoShift().SerializeAsString();
  for (const std::string& value :
       {valid.substr(0, valid.size() - 3), std::string("\xFF\xFF\xFF\xFF"),
        std::string("\x0A\x50short", 7)}) {
    EXPECT_THAT(codec_.Decode(value, Encoding::kProtobuf, kNow, &event_),
                IsRejection(kReasonInvalidProtobuf, ""));
  }
  // proto3 strings must be UTF-8.
  civicpulse::v1::Event p = ProtoShift();
  p.set_area("\xC3\x28");
  EXPECT_THAT(DecodeProto(p), IsRejection(kReasonInvalidProtobuf, ""));
}

TEST_F(EventCodecTest, JsonAsProtobufIsRejected) {
  EXPECT_FALSE(codec_.Decode(kWatchReport, Encoding::kProtobuf, kNow, &event_).ok());
}

// ---- encoding detection ----------------------------------------------------------------------

TEST_F(EventCodecTest, AutoDetectsProtobuf) {
  EXPECT_TRUE(DecodeAuto(ProtoShift().SerializeAsString()).ok());
  EXPECT_EQ(event_.event_id, "vs-991");
}

TEST_F(EventCodecTest, AutoDetectsProtobufWhoseLengthByteLooksLikeWhitespace) {
  // 0x0A (field 1) then a length of 9, 10, 13 or 32 (all JSON whitespace) and an id that
  // starts like a JSON scalar: still protobuf.
  for (const std::string id : {"123456789", "1234567890", "true-12345678", "n-23456789",
                               "0123456789abcdef0123456789abcdef"}) {
    civicpulse::v1::Event p = ProtoShift();
    p.set_event_id(id);
    EXPECT_TRUE(DecodeAuto(p.SerializeAsString()).ok()) << id;
    EXPECT_EQ(event_.event_id, id);
  }
}

TEST_F(EventCodecTest, AutoDetectsProtobufWhoseLengthByteStartsAJsonObjectOrArray) {
  // 0x0A then a length of 91 ('[') or 123 ('{'), or a whitespace length (9, 10, 13, 32)
  // and an id that starts with '{' or '[': valid protobuf Events, decoded as such.
  std::vector<std::string> ids = {std::string(91, 'a'),       std::string(123, 'b'),
                                  "{" + std::string(8, 'c'),  "[" + std::string(9, 'd'),
                                  "{" + std::string(12, 'e'), "[" + std::string(31, 'f')};
  for (const std::string& id : ids) {
    civicpulse::v1::Event p = ProtoShift();
    p.set_event_id(id);
    const std::string bytes = p.SerializeAsString();
    ASSERT_EQ(bytes[0], '\n');
    EXPECT_TRUE(DecodeAuto(bytes).ok()) << id.size();
    EXPECT_EQ(event_.event_id, id);
    EXPECT_EQ(event_.kind, Kind::kVolunteerShift);
  }
  // Such a protobuf that fails validation is rejected for what it lacks, not as JSON.
  civicpulse::v1::Event p = ProtoShift();
  p.set_event_id(std::string(123, 'g'));
  p.clear_area();
  EXPECT_THAT(DecodeAuto(p.SerializeAsString()), IsRejection(kReasonMissingField, "area"));
}

TEST_F(EventCodecTest, AutoDetectsJsonAfterWhitespaceAndByHint) {
  EXPECT_TRUE(DecodeAuto(Cat("\n  ", kRecycling)).ok());
  EXPECT_THAT(DecodeAuto(" [1]"), IsRejection(kReasonNotAnObject, ""));
  // A hint forces JSON whatever the first byte.
  EXPECT_THAT(DecodeAuto("\x01garbage", /*json_hint=*/true), IsRejection(kReasonInvalidJson, ""));
  EXPECT_THAT(DecodeAuto(" 42", /*json_hint=*/true), IsRejection(kReasonNotAnObject, ""));
  EXPECT_THAT(DecodeAuto(ProtoShift().SerializeAsString(), /*json_hint=*/true),
              IsRejection(kReasonInvalidJson, ""));
}

// ---- encoders and round trips ----------------------------------------------------------------

Event FullEvent() {
  Event e;
  e.event_id = "id \"quoted\" \\ back\nnewline\ttab \x01 ctrl é ✓";
  e.SetKind(Kind::kVolunteerShift);
  e.participant = "p-</script>";
  e.area = "W/05";
  e.occurred_at_ms = 1795370645123;
  e.category = "c";
  e.hours = 0.1 + 0.2;  // not exactly representable in short decimal
  e.organisation = "Org";
  e.material = "m";
  e.sector = Sector::kLocalEnvironment;
  e.mode = Mode::kIndividual;
  e.public_body = false;
  e.coproduction = CoproductionType::kCoCommissioning;
  e.age_band = AgeBand::k16To24;
  e.source = "simulator";
  return e;
}

TEST_F(EventCodecTest, JsonRoundTrip) {
  std::vector<Event> events = {FullEvent()};
  for (std::string_view json : {kWatchReport, kVolunteerShift, kRecycling}) {
    ASSERT_TRUE(DecodeJson(json).ok());
    events.push_back(event_);
  }
  Event unknown_band = FullEvent();
  unknown_band.age_band = AgeBand::kUnknown;
  events.push_back(unknown_band);
  std::string json;
  for (const Event& original : events) {
    codec_.EncodeJson(original, &json);
    ASSERT_TRUE(DecodeJson(json).ok()) << json << ": " << RejectionOf(DecodeJson(json)).detail;
    EXPECT_EQ(event_, original) << json;
  }
}

TEST_F(EventCodecTest, EncodeJsonShape) {
  ASSERT_TRUE(DecodeJson(kVolunteerShift).ok());
  std::string json;
  codec_.EncodeJson(event_, &json);
  EXPECT_EQ(json,
            R"({"event_id":"vs-991","kind":"volunteer_shift","participant":"p-7","area":"W01",)"
            R"("occurred_at":"2026-11-22T09:00:00Z","hours":3.5,"organisation":"City Hospital",)"
            R"("sector":"public_health","mode":"collective","public_body":true,)"
            R"("coproduction":"co_delivery"})");
}

TEST_F(EventCodecTest, EncodeJsonEscapes) {
  Event e = FullEvent();
  std::string json;
  codec_.EncodeJson(e, &json);
  EXPECT_THAT(json, HasSubstr(R"(id \"quoted\" \\ back\nnewline\ttab \u0001 ctrl)"));
}

TEST_F(EventCodecTest, ProtobufRoundTrip) {
  std::vector<Event> events = {FullEvent()};
  for (std::string_view json : {kWatchReport, kVolunteerShift, kRecycling}) {
    ASSERT_TRUE(DecodeJson(json).ok());
    events.push_back(event_);
  }
  Event anonymous = events[1];
  anonymous.has_participant = false;
  anonymous.participant.clear();
  events.push_back(anonymous);
  std::string bytes;
  for (const Event& original : events) {
    codec_.EncodeProtobuf(original, &bytes);
    ASSERT_TRUE(codec_.Decode(bytes, Encoding::kProtobuf, kNow, &event_).ok());
    EXPECT_EQ(event_, original);
    ASSERT_TRUE(DecodeAuto(bytes).ok());
    EXPECT_EQ(event_, original);
  }
}

TEST_F(EventCodecTest, JsonToProtobufToJson) {
  std::string bytes, json;
  for (std::string_view original : {kWatchReport, kVolunteerShift, kRecycling}) {
    ASSERT_TRUE(DecodeJson(original).ok());
    const Event from_json = event_;
    codec_.EncodeProtobuf(from_json, &bytes);
    ASSERT_TRUE(codec_.Decode(bytes, Encoding::kProtobuf, kNow, &event_).ok());
    codec_.EncodeJson(event_, &json);
    ASSERT_TRUE(DecodeJson(json).ok());
    EXPECT_EQ(event_, from_json) << json;
  }
}

TEST_F(EventCodecTest, EncodeProtobufWritesDefaultsExplicitly) {
  ASSERT_TRUE(DecodeJson(kRecycling).ok());
  std::string bytes;
  codec_.EncodeProtobuf(event_, &bytes);
  civicpulse::v1::Event p;
  ASSERT_TRUE(p.ParseFromString(bytes));
  EXPECT_EQ(p.sector(), civicpulse::v1::SECTOR_LOCAL_ENVIRONMENT);
  EXPECT_EQ(p.mode(), civicpulse::v1::MODE_INDIVIDUAL);
  EXPECT_TRUE(p.has_public_body());
  EXPECT_TRUE(p.public_body());
  EXPECT_EQ(p.coproduction(), civicpulse::v1::COPRODUCTION_TYPE_CO_DELIVERY);
  EXPECT_EQ(p.weight_kg(), 4.2);
  EXPECT_EQ(p.hours(), 0);
  EXPECT_EQ(p.occurred_at().seconds(), Ms("2026-11-22T11:30:00Z") / 1000);
}

TEST_F(EventCodecTest, AnonymousEventEncodesToJsonWithoutParticipant) {
  // JSON requires a participant, so an anonymous event does not survive a JSON round trip;
  // it travels as protobuf.
  Event e = FullEvent();
  e.has_participant = false;
  e.participant.clear();
  std::string json;
  codec_.EncodeJson(e, &json);
  EXPECT_THAT(json, ::testing::Not(HasSubstr("participant")));
  EXPECT_THAT(DecodeJson(json), IsRejection(kReasonMissingField, "participant"));
}

// ---- reuse ------------------------------------------------------------------------------------

TEST_F(EventCodecTest, OneCodecAcrossManyDecodes) {
  const std::string proto = ProtoShift().SerializeAsString();
  for (int i = 0; i < 2000; ++i) {
    switch (i % 6) {
      case 0:
        ASSERT_TRUE(DecodeJson(kWatchReport).ok());
        EXPECT_EQ(event_.category, "suspicious_vehicle");
        EXPECT_EQ(event_.hours, 0);
        break;
      case 1:
        ASSERT_THAT(DecodeJson(Shift(R"("hours":30)")), IsRejection(kReasonOutOfRange, "hours"));
        break;
      case 2:
        ASSERT_TRUE(DecodeJson(kRecycling).ok());
        EXPECT_EQ(event_.category, "");  // nothing left over from the watch report
        EXPECT_EQ(event_.weight_kg, 4.2);
        EXPECT_EQ(event_.mode, Mode::kIndividual);
        break;
      case 3:
        ASSERT_THAT(DecodeJson(std::string_view(kRecycling).substr(0, 50)),
                    IsRejection(kReasonInvalidJson, ""));
        break;
      case 4:
        ASSERT_TRUE(DecodeAuto(proto).ok());
        EXPECT_EQ(event_.hours, 3.5);
        EXPECT_EQ(event_.material, "");
        break;
      case 5:
        ASSERT_THAT(DecodeJson(std::string(100, '[')), IsRejection(kReasonInvalidJson, ""));
        break;
    }
  }
  ASSERT_TRUE(DecodeJson(kVolunteerShift).ok());
  EXPECT_EQ(event_.organisation, "City Hospital");
}

// ---- Validate ---------------------------------------------------------------------------------

TEST_F(EventCodecTest, ValidateAcceptsWhatDecodeAccepts) {
  for (std::string_view json : {kWatchReport, kVolunteerShift, kRecycling}) {
    ASSERT_TRUE(DecodeJson(json).ok());
    EXPECT_TRUE(codec_.Validate(event_, kNow).ok()) << json;
  }
  Event anonymous = FullEvent();
  anonymous.has_participant = false;
  anonymous.participant.clear();
  EXPECT_TRUE(codec_.Validate(anonymous, kNow).ok());
}

TEST_F(EventCodecTest, ValidateRejections) {
  auto broken = [](auto mutate) {
    Event e = FullEvent();
    mutate(e);
    return e;
  };
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.event_id.clear(); }), kNow),
              IsRejection(kReasonMissingField, "event_id"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.kind = static_cast<Kind>(0); }), kNow),
              IsRejection(kReasonInvalidValue, "kind"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.participant.clear(); }), kNow),
              IsRejection(kReasonMissingField, "participant"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.area.clear(); }), kNow),
              IsRejection(kReasonMissingField, "area"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.occurred_at_ms = kNow + 600'001; }), kNow),
              IsRejection(kReasonFutureTimestamp, "occurred_at"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.occurred_at_ms = INT64_MIN; }), INT64_MAX),
              IsRejection(kReasonInvalidTimestamp, "occurred_at"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.hours = 0; }), kNow),
              IsRejection(kReasonOutOfRange, "hours"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.hours = std::nan(""); }), kNow),
              IsRejection(kReasonOutOfRange, "hours"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.SetKind(Kind::kRecycling); }), kNow),
              IsRejection(kReasonOutOfRange, "weight_kg"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.sector = static_cast<Sector>(9); }), kNow),
              IsRejection(kReasonInvalidValue, "sector"));
  EXPECT_THAT(codec_.Validate(broken([](Event& e) { e.mode = static_cast<Mode>(0); }), kNow),
              IsRejection(kReasonInvalidValue, "mode"));
  EXPECT_THAT(
      codec_.Validate(broken([](Event& e) { e.coproduction = static_cast<CoproductionType>(7); }),
                      kNow),
      IsRejection(kReasonInvalidValue, "coproduction"));
}

// Event time starts after the Unix epoch: the engine and the exporter read a time of 0 or
// less as "none yet" (an event applied there would never show in an indicator). The rule
// holds for every way in: JSON, protobuf, and events built by the ingest (Validate).
TEST_F(EventCodecTest, TimesAtOrBeforeTheEpochAreInvalidTimestamp) {
  for (const char* text :
       {"1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "1970-01-01T01:00:00+01:00",
        "1066-10-14T09:00:00Z", "0001-01-01T00:00:00Z"}) {
    const absl::Status status = DecodeJson(JsonWith({{"occurred_at", Cat("\"", text, "\"")}}));
    EXPECT_THAT(status, IsRejection(kReasonInvalidTimestamp, "occurred_at")) << text;
    EXPECT_THAT(status.message(), HasSubstr("not after 1970-01-01T00:00:00Z")) << text;
  }
  ASSERT_TRUE(DecodeJson(JsonWith({{"occurred_at", R"("1970-01-01T00:00:00.001Z")"}})).ok());
  EXPECT_EQ(event_.occurred_at_ms, 1);

  civicpulse::v1::Event proto = ProtoShift();
  proto.mutable_occurred_at()->set_seconds(-1);
  EXPECT_THAT(DecodeProto(proto), IsRejection(kReasonInvalidTimestamp, "occurred_at"));
  proto.mutable_occurred_at()->set_seconds(0);
  EXPECT_THAT(DecodeProto(proto), IsRejection(kReasonInvalidTimestamp, "occurred_at"));
  proto.mutable_occurred_at()->set_nanos(1'000'000);
  EXPECT_TRUE(DecodeProto(proto).ok());

  ASSERT_TRUE(DecodeJson(kWatchReport).ok());
  Event old = event_;
  old.occurred_at_ms = -3'600'000;
  EXPECT_THAT(codec_.Validate(old, kNow), IsRejection(kReasonInvalidTimestamp, "occurred_at"));
}

TEST_F(EventCodecTest, FutureCheckDoesNotOverflowOnExtremeClocks) {
  Event e = FullEvent();
  EXPECT_THAT(codec_.Validate(e, INT64_MIN), IsRejection(kReasonFutureTimestamp, "occurred_at"));
  EXPECT_TRUE(codec_.Validate(e, INT64_MAX).ok());
}

// ---- rejection status ---------------------------------------------------------------------------

TEST(RejectionTest, CarriesReasonAndFieldAsPayload) {
  const absl::Status status = RejectionError(kReasonOutOfRange, "hours", "hours: too many");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "hours: too many");
  EXPECT_TRUE(status.GetPayload("type.civicpulse/rejection").has_value());
  const Rejection rejection = RejectionOf(status);
  EXPECT_EQ(rejection.reason, "out_of_range");
  EXPECT_EQ(rejection.field, "hours");
  EXPECT_EQ(rejection.detail, "hours: too many");
}

TEST(RejectionTest, OtherStatusesAreInternal) {
  const Rejection rejection = RejectionOf(absl::UnavailableError("broker down"));
  EXPECT_EQ(rejection.reason, "internal");
  EXPECT_EQ(rejection.field, "");
  EXPECT_EQ(rejection.detail, "broker down");
  EXPECT_EQ(RejectionOf(absl::OkStatus()).reason, "");
}

// ---- event.h ---------------------------------------------------------------------------------

TEST(EventTest, NamesRoundTrip) {
  for (Kind kind : {Kind::kWatchReport, Kind::kVolunteerShift, Kind::kRecycling}) {
    EXPECT_EQ(ParseKind(KindName(kind)), kind);
  }
  EXPECT_EQ(KindName(Kind::kVolunteerShift), "volunteer_shift");
  for (Sector sector :
       {Sector::kCommunitySafety, Sector::kLocalEnvironment, Sector::kPublicHealth}) {
    EXPECT_EQ(ParseSector(SectorName(sector)), sector);
  }
  for (Mode mode : {Mode::kIndividual, Mode::kCollective}) {
    EXPECT_EQ(ParseMode(ModeName(mode)), mode);
  }
  for (int i = 1; i <= kCoproductionTypeCount; ++i) {
    const auto type = static_cast<CoproductionType>(i);
    EXPECT_EQ(ParseCoproductionType(CoproductionTypeName(type)), type);
  }
  for (int i = 0; i < kAgeBandCount; ++i) {
    const auto band = static_cast<AgeBand>(i);
    EXPECT_EQ(ParseAgeBand(AgeBandName(band)), band);
  }
  EXPECT_EQ(AgeBandName(AgeBand::kNone), "");
  EXPECT_EQ(AgeBandName(AgeBand::k75Plus), "75+");
  EXPECT_EQ(ParseKind(""), std::nullopt);
  EXPECT_EQ(ParseKind("WATCH_REPORT"), std::nullopt);
  EXPECT_EQ(ParseMode("collective "), std::nullopt);
  EXPECT_EQ(KindName(static_cast<Kind>(42)), "");
}

TEST(EventTest, DefaultsByKind) {
  EXPECT_EQ(DefaultSector(Kind::kWatchReport), Sector::kCommunitySafety);
  EXPECT_EQ(DefaultSector(Kind::kRecycling), Sector::kLocalEnvironment);
  EXPECT_EQ(DefaultSector(Kind::kVolunteerShift), Sector::kPublicHealth);
  EXPECT_EQ(DefaultMode(Kind::kRecycling), Mode::kIndividual);
  EXPECT_EQ(DefaultMode(Kind::kWatchReport), Mode::kCollective);
  EXPECT_EQ(DefaultMode(Kind::kVolunteerShift), Mode::kCollective);
  Event e;
  e.SetKind(Kind::kRecycling);
  EXPECT_EQ(e.kind, Kind::kRecycling);
  EXPECT_EQ(e.sector, Sector::kLocalEnvironment);
  EXPECT_EQ(e.mode, Mode::kIndividual);
}

TEST(EventTest, ClearResetsFieldsAndKeepsCapacity) {
  Event e = FullEvent();
  e.has_participant = false;
  e.event_id.assign(200, 'x');
  const size_t capacity = e.event_id.capacity();
  e.Clear();
  EXPECT_EQ(e, Event());
  EXPECT_EQ(e.event_id.capacity(), capacity);
}

}  // namespace
}  // namespace civicpulse::core
