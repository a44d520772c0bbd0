// Fuzzes the Open311 import: SplitJsonArray over a whole body, Open311Decoder
// over each element and over the input as one request, ParseDateTime over the
// input. Beyond "never crashes" it checks properties that must hold for any
// input: split elements are non-empty substrings in order; a rejection carries
// a known reason code; a decoded request that passes Validate survives
// EncodeProtobuf -> Decode unchanged (so every string the decoder copied is
// UTF-8) and is anonymous unless an account_id was given; whether a text is a
// date-time does not depend on the time zone.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/open311.h"
#include "google/protobuf/stubs/logging.h"

namespace {

using namespace civicpulse::core;

constexpr int64_t kNowMs = 1795374000000;  // 2026-11-22T19:00:00Z

void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "property violated: %s (input %zu bytes)\n", what,
               input.size());
  std::abort();
}

bool IsKnownReason(std::string_view reason) {
  for (std::string_view known :
       {kReasonInvalidJson, kReasonNotAnObject, kReasonMissingField,
        kReasonWrongType, kReasonInvalidValue, kReasonOutOfRange,
        kReasonInvalidTimestamp, kReasonFutureTimestamp, kReasonInvalidUtf8,
        kReasonTooLarge, kReasonUnmappedArea}) {
    if (reason == known) return true;
  }
  return false;
}

Open311Mapping* mapping = nullptr;

void CheckRequest(std::string_view request, std::string_view input,
                  Open311Decoder& decoder, EventCodec& codec) {
  Event event;
  const absl::Status status = decoder.Decode(request, "fuzz", &event);
  if (!status.ok()) {
    if (!IsKnownReason(RejectionOf(status).reason))
      Fail("unknown reason code", input);
    return;
  }
  if (event.kind != Kind::kWatchReport ||
      event.coproduction != CoproductionType::kCoAssessment) {
    Fail("not a co_assessment watch_report", input);
  }
  if (event.has_participant && event.participant.empty())
    Fail("empty participant", input);
  if (!event.has_participant && !event.participant.empty())
    Fail("anonymous with an id", input);
  if (!codec.Validate(event, kNowMs).ok())
    return;  // e.g. a future or out-of-range time
  std::string bytes;
  codec.EncodeProtobuf(event, &bytes);
  Event back;
  if (!codec.Decode(bytes, Encoding::kProtobuf, kNowMs, &back).ok()) {
    Fail("a valid request does not survive protobuf", input);
  }
  if (!(back == event)) Fail("protobuf round trip changed the event", input);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  mapping = new Open311Mapping;
  // A zone with daylight saving time, so that skipped and repeated local times
  // occur.
  if (!absl::LoadTimeZone("America/Los_Angeles", &mapping->time_zone)) {
    mapping->time_zone = absl::FixedTimeZone(-8 * 3600);
  }
  mapping->sector_by_service_code["033"] = Sector::kCommunitySafety;
  mapping->sector_by_service_name["Graffiti"] = Sector::kLocalEnvironment;
  mapping->area_by_zipcode["94110"] = "SF-Mission";
  mapping->zipcode_area_prefix = "SF-";
  mapping->area_boxes.push_back({"SF-NE", 37.77, -122.44, 37.84, -122.35});
  mapping->default_area = "SF-unknown";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Open311Decoder* decoder = new Open311Decoder(mapping);
  static EventCodec* codec = new EventCodec;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::vector<JsonElement> elements;
  const absl::Status split = SplitJsonArray(input, 16, 1000, &elements);
  if (split.ok()) {
    const char* previous_end = input.data();
    for (size_t i = 0; i < elements.size(); ++i) {
      const JsonElement& e = elements[i];
      if (e.text.empty() || e.index != static_cast<int>(i) || e.line < 1 ||
          e.text.data() < previous_end ||
          e.text.data() + e.text.size() > input.data() + size) {
        Fail("split elements are not ordered non-empty substrings", input);
      }
      previous_end = e.text.data() + e.text.size();
      if (!e.too_deep) CheckRequest(e.text, input, *decoder, *codec);
    }
  } else if (split.code() != absl::StatusCode::kInvalidArgument &&
             split.code() != absl::StatusCode::kResourceExhausted) {
    Fail("unexpected split status", input);
  }
  CheckRequest(input, input, *decoder, *codec);

  int64_t in_zone = 0, in_utc = 0;
  if (ParseDateTime(input, mapping->time_zone, &in_zone) !=
      ParseDateTime(input, absl::UTCTimeZone(), &in_utc)) {
    Fail("ParseDateTime syntax depends on the zone", input);
  }
  return 0;
}
