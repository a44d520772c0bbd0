#include "civicpulse/core/open311.h"

#include <string>
#include <vector>

#include "civicpulse/core/event_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'900'000'000'000;  // 2030

std::vector<JsonElement> Split(std::string_view text, absl::Status* status,
                               size_t max_elements = 100, int max_depth = 4) {
  std::vector<JsonElement> elements;
  *status = SplitJsonArray(text, max_depth, max_elements, &elements);
  return elements;
}

TEST(SplitJsonArrayTest, SplitsTopLevelElementsWithTheirLines) {
  absl::Status status;
  const std::vector<JsonElement> elements = Split(
      "\xEF\xBB\xBF [\n{\"a\":\"],}\\\"\"},\n [1,[2]] ,\n\n \"x\", "
      "-1.5e3,null]\n",
      &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(elements.size(), 5u);
  EXPECT_EQ(elements[0].text, "{\"a\":\"],}\\\"\"}");
  EXPECT_EQ(elements[0].line, 2);
  EXPECT_EQ(elements[1].text, "[1,[2]]");
  EXPECT_EQ(elements[1].line, 3);
  EXPECT_EQ(elements[2].text, "\"x\"");
  EXPECT_EQ(elements[2].line, 5);
  EXPECT_EQ(elements[3].text, "-1.5e3");
  EXPECT_EQ(elements[4].text, "null");
  EXPECT_EQ(elements[4].index, 4);
}

TEST(SplitJsonArrayTest, EmptyArrayAndStructuralErrors) {
  absl::Status status;
  EXPECT_TRUE(Split(" [ ] ", &status).empty());
  EXPECT_TRUE(status.ok());
  for (const char* bad : {"", "{}", "[", "[1,", "[1,,2]", "[{]", "[{\"a\":1]",
                          "[\"abc]", "[1] 2", "[1 2]", "[}]", "[,]"}) {
    Split(bad, &status);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(SplitJsonArrayTest, DeepNestingIsMarkedNotRecursed) {
  absl::Status status;
  const std::string deep =
      "[" + std::string(100000, '[') + std::string(100000, ']') + ",{}]";
  const std::vector<JsonElement> elements = Split(deep, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(elements.size(), 2u);
  EXPECT_TRUE(elements[0].too_deep);
  EXPECT_FALSE(elements[1].too_deep);
}

TEST(SplitJsonArrayTest, TooManyElements) {
  absl::Status status;
  Split("[1,2,3,4]", &status, 3);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  Split("[1,2,3]", &status, 3);
  EXPECT_TRUE(status.ok());
}

TEST(ParseDateTimeTest, OffsetFormsAndCivilTimesInAZone) {
  absl::TimeZone la;
  ASSERT_TRUE(absl::LoadTimeZone("America/Los_Angeles", &la));
  int64_t ms = 0;
  ASSERT_TRUE(ParseDateTime("2011-06-28 05:14:00", la, &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2011-06-28T12:14:00Z");  // PDT = UTC-7
  ASSERT_TRUE(ParseDateTime("2011-01-28T05:14", la, &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2011-01-28T13:14:00Z");  // PST = UTC-8
  ASSERT_TRUE(
      ParseDateTime("2011-06-28 05:14:00.25", absl::UTCTimeZone(), &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2011-06-28T05:14:00.250Z");
  ASSERT_TRUE(ParseDateTime("2010-04-14T06:37:38-08:00", la, &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2010-04-14T14:37:38Z");
  ASSERT_TRUE(ParseDateTime("2010-04-14 06:37:38Z", la, &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2010-04-14T06:37:38Z");
  for (const char* bad :
       {"", "2011-06-28", "2011-13-01 00:00", "2011-02-29 00:00",
        "2011-06-28 24:00", "2011-06-28 05:14:00.", "2011-06-28 05:14:00x",
        "0000-01-01 00:00", "2011-06-28 05:14:60", "2011/06/28 05:14"}) {
    EXPECT_FALSE(ParseDateTime(bad, la, &ms)) << bad;
  }
}

TEST(ParseOpen311MappingTest, ReadsEveryKeyAndRejectsTypos) {
  absl::StatusOr<Open311Mapping> mapping = ParseOpen311Mapping(R"({
    "time_zone": "America/Los_Angeles",
    "sectors": {"service_code": {"033": "community_safety"},
                "service_name": {"Graffiti": "local_environment"},
                "default": "public_health"},
    "areas": {"zipcode": {"94110": "SF-Mission"}, "zipcode_prefix": "SF-",
              "boxes": [{"area": "SF-NE", "south": 37.78, "west": -122.43,
                         "north": 37.81, "east": -122.39}],
              "default": "SF-unknown"},
    "public_body": false})");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  EXPECT_EQ(mapping->time_zone_name, "America/Los_Angeles");
  EXPECT_EQ(mapping->sector_by_service_code.at("033"),
            Sector::kCommunitySafety);
  EXPECT_EQ(mapping->sector_by_service_name.at("Graffiti"),
            Sector::kLocalEnvironment);
  EXPECT_EQ(mapping->default_sector, Sector::kPublicHealth);
  EXPECT_EQ(mapping->area_by_zipcode.at("94110"), "SF-Mission");
  EXPECT_EQ(mapping->zipcode_area_prefix, "SF-");
  ASSERT_EQ(mapping->area_boxes.size(), 1u);
  EXPECT_EQ(mapping->area_boxes[0].area, "SF-NE");
  EXPECT_EQ(mapping->default_area, "SF-unknown");
  EXPECT_FALSE(mapping->public_body);

  for (
      const char* bad :
      {"[]", "{", R"({"timezone": "UTC"})", R"({"areas": {"zipcodes": {}}})",
       R"({"sectors": {"service_code": {"1": "health"}}})",
       R"({"areas": {"boxes": [{"area": "A", "south": 1, "west": 1, "north": 0, "east": 2}]}})",
       R"({"areas": {"boxes": [{"area": "A", "south": 1}]}})",
       R"({"public_body": "yes"})"}) {
    EXPECT_EQ(ParseOpen311Mapping(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

class Open311DecoderTest : public ::testing::Test {
 protected:
  Open311DecoderTest() {
    absl::TimeZone la;
    EXPECT_TRUE(absl::LoadTimeZone("America/Los_Angeles", &la));
    mapping_.time_zone = la;
    mapping_.sector_by_service_code["033"] = Sector::kCommunitySafety;
    mapping_.sector_by_service_name["Graffiti"] = Sector::kLocalEnvironment;
    mapping_.default_sector = Sector::kLocalEnvironment;
    mapping_.area_by_zipcode["94110"] = "SF-Mission";
    mapping_.area_boxes.push_back({"SF-NE", 37.78, -122.43, 37.81, -122.39});
    mapping_.default_area = "SF-unknown";
  }
  absl::Status Decode(std::string_view request) {
    return decoder_.Decode(request, "sf", &event_);
  }
  Open311Mapping mapping_;
  Open311Decoder decoder_{&mapping_};
  Event event_;
};

TEST_F(Open311DecoderTest, SanFranciscoRequestBecomesAnAnonymousCoAssessment) {
  ASSERT_TRUE(Decode(R"({"service_request_id": "909923", "status": "Closed",
      "status_notes": null, "service_name": "Abandoned Vehicle", "service_code": "033",
      "description": null, "requested_datetime": "2011-06-28 05:14:00",
      "address": "120  MANCHESTER ST", "zipcode": 94110, "lat": 37.744545,
      "long": -122.41436, "media_url": null, "attributes": {"x": [1, 2]}})")
                  .ok());
  EXPECT_EQ(event_.event_id, "open311-sf-909923");
  EXPECT_EQ(event_.kind, Kind::kWatchReport);
  EXPECT_FALSE(event_.has_participant);
  EXPECT_EQ(event_.participant, "");
  EXPECT_EQ(event_.area, "SF-Mission");
  EXPECT_EQ(FormatRfc3339(event_.occurred_at_ms), "2011-06-28T12:14:00Z");
  EXPECT_EQ(event_.category, "Abandoned Vehicle");
  EXPECT_EQ(event_.sector, Sector::kCommunitySafety);
  EXPECT_EQ(event_.coproduction, CoproductionType::kCoAssessment);
  EXPECT_EQ(event_.mode, Mode::kCollective);
  EXPECT_TRUE(event_.public_body);
  EXPECT_EQ(event_.source, "sf");
  EXPECT_TRUE(EventCodec().Validate(event_, kNow).ok());
}

TEST_F(Open311DecoderTest, AreaFallsBackFromZipcodeToBoxToDefault) {
  // No zipcode: the box holding lat/long.
  ASSERT_TRUE(
      Decode(
          R"({"service_request_id": "1", "requested_datetime": "2011-06-28 05:07:00",
      "service_name": "Graffiti", "zipcode": null, "lat": 37.789433, "long": -122.40696})")
          .ok());
  EXPECT_EQ(event_.area, "SF-NE");
  EXPECT_EQ(event_.sector, Sector::kLocalEnvironment);
  // Zipcode 0 and lat/long 0,0 are "unknown": the default area.
  ASSERT_TRUE(
      Decode(
          R"({"service_request_id": 2, "requested_datetime": "2011-06-28 05:07:00",
      "zipcode": 0, "lat": 0.0, "long": 0.0})")
          .ok());
  EXPECT_EQ(event_.area, "SF-unknown");
  EXPECT_EQ(event_.event_id, "open311-sf-2");
  // An unlisted zipcode without a prefix: lat/long, given as strings.
  ASSERT_TRUE(
      Decode(
          R"({"service_request_id": "3", "requested_datetime": "2011-06-28 05:07:00",
      "zipcode": "94999", "lat": "37.8", "long": "-122.4"})")
          .ok());
  EXPECT_EQ(event_.area, "SF-NE");
  mapping_.zipcode_area_prefix = "zip-";
  ASSERT_TRUE(
      Decode(
          R"({"service_request_id": "3", "requested_datetime": "2011-06-28 05:07:00",
      "zipcode": "94999", "lat": "37.8", "long": "-122.4"})")
          .ok());
  EXPECT_EQ(event_.area, "zip-94999");
  mapping_.default_area.clear();
  const absl::Status status = Decode(
      R"({"service_request_id": "4", "requested_datetime": "2011-06-28 05:07:00"})");
  EXPECT_EQ(RejectionOf(status).reason, kReasonUnmappedArea);
}

TEST_F(Open311DecoderTest, AnAccountIdIsTheParticipant) {
  ASSERT_TRUE(
      Decode(
          R"({"service_request_id": "5", "requested_datetime": "2011-06-28T05:07:00Z",
      "account_id": "acct-77"})")
          .ok());
  EXPECT_TRUE(event_.has_participant);
  EXPECT_EQ(event_.participant, "acct-77");
}

TEST_F(Open311DecoderTest, BrokenRequestsNameTheField) {
  struct Case {
    const char* request;
    std::string_view reason;
    const char* field;
  };
  for (
      const Case& c : std::vector<Case>{
          {R"([1])", kReasonNotAnObject, ""},
          {R"({"service_request_id": "1")", kReasonInvalidJson, ""},
          {R"({"requested_datetime": "2011-06-28 05:07:00"})",
           kReasonMissingField, "service_request_id"},
          {R"({"service_request_id": true, "requested_datetime": "2011-06-28 05:07:00"})",
           kReasonWrongType, "service_request_id"},
          {R"({"service_request_id": "1"})", kReasonMissingField,
           "requested_datetime"},
          {R"({"service_request_id": "1", "requested_datetime": "yesterday"})",
           kReasonInvalidTimestamp, "requested_datetime"},
          {R"({"service_request_id": "1", "requested_datetime": 2011})",
           kReasonWrongType, "requested_datetime"},
          {R"({"service_request_id": "1", "requested_datetime": "2011-06-28 05:07:00",
               "lat": 91, "long": 0})",
           kReasonOutOfRange, "lat"},
          {R"({"service_request_id": "1", "requested_datetime": "2011-06-28 05:07:00",
               "long": "west"})",
           kReasonInvalidValue, "long"},
          {R"({"service_request_id": "1", "requested_datetime": "2011-06-28 05:07:00",
               "zipcode": {"a": 1}})",
           kReasonWrongType, "zipcode"},
          {"{\"service_request_id\": \"\\udc00\", \"requested_datetime\": "
           "\"2011-06-28 05:07\"}",
           kReasonInvalidUtf8, "service_request_id"},
          {R"({"a": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]})",
           kReasonInvalidJson, ""},
      }) {
    const Rejection rejection = RejectionOf(Decode(c.request));
    EXPECT_EQ(rejection.reason, c.reason)
        << c.request << " -> " << rejection.detail;
    EXPECT_EQ(rejection.field, c.field) << c.request;
  }
}

TEST_F(Open311DecoderTest, RejectionsNeverQuoteTheAccountId) {
  const Rejection rejection = RejectionOf(Decode(
      R"({"service_request_id": "1", "requested_datetime": "soon", "account_id": "secret-9"})"));
  EXPECT_EQ(rejection.reason, kReasonInvalidTimestamp);
  EXPECT_THAT(rejection.detail, ::testing::Not(HasSubstr("secret-9")));
}

}  // namespace
}  // namespace civicpulse::core
