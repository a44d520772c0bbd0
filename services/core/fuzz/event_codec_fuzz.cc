// Fuzzes EventCodec::Decode with arbitrary record values as JSON, as protobuf and with
// auto-detection. Beyond "never crashes" it checks properties that must hold for any input:
// a rejection always carries a known reason code; an accepted event passes Validate and
// survives EncodeProtobuf -> Decode and EncodeJson -> Decode unchanged; and ReadJsonObject
// reads every value to the same members and status with its flat fast path as with RapidJSON
// alone.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../src/json_members.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "google/protobuf/stubs/logging.h"

namespace {

using civicpulse::core::Encoding;
using civicpulse::core::Event;
using civicpulse::core::EventCodec;

// The receiving clock: 2026-11-22T19:00:00Z, an hour after docs/reference.md's examples.
constexpr int64_t kNowMs = 1795374000000;

void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "property violated: %s (input %zu bytes)\n", what, input.size());
  std::abort();
}

bool IsKnownReason(std::string_view reason) {
  using namespace civicpulse::core;
  for (std::string_view known :
       {kReasonInvalidJson, kReasonInvalidProtobuf, kReasonNotAnObject, kReasonMissingField,
        kReasonWrongType, kReasonInvalidValue, kReasonOutOfRange, kReasonInvalidTimestamp,
        kReasonFutureTimestamp, kReasonInvalidUtf8, kReasonTooLarge}) {
    if (reason == known) return true;
  }
  return false;
}

// Members named as an event's, for ReadJsonObject's two paths.
struct Fields {
  static constexpr int kCount = 6;
  static constexpr std::array<std::string_view, kCount> kNames = {
      "event_id", "kind", "participant", "hours", "public_body", "age_band"};
  static int Find(std::string_view key) {
    for (int i = 0; i < kCount; ++i) {
      if (kNames[i] == key) return i;
    }
    return kCount;
  }
};

// ReadJsonObject with and without its flat fast path: the same status, root and members.
void CheckFlatFastPath(std::string_view input) {
  using civicpulse::core::JsonMembers;
  using civicpulse::core::ReadJsonObject;
  static std::string& fast_buffer = *new std::string();
  static std::string& slow_buffer = *new std::string();
  static rapidjson::Reader& reader = *new rapidjson::Reader();
  JsonMembers<Fields> fast(16, true), slow(16, true);
  const absl::Status fast_status =
      ReadJsonObject(input, {.flat_fast_path = true}, &fast_buffer, &reader, &fast);
  const absl::Status slow_status =
      ReadJsonObject(input, {.flat_fast_path = false}, &slow_buffer, &reader, &slow);
  if (fast_status != slow_status) Fail("flat fast path: another status", input);
  if (!fast_status.ok()) return;
  if (fast.root() != slow.root()) Fail("flat fast path: another root", input);
  for (int i = 0; i < Fields::kCount; ++i) {
    if (fast[i] != slow[i]) Fail("flat fast path: another member", input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs every string field that is not UTF-8; the fuzzer makes many.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One codec for the whole run, as in a consumer: state left by one input must not leak
  // into the next.
  static EventCodec& codec = *new EventCodec();
  static Event& event = *new Event();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckFlatFastPath(input);

  for (Encoding encoding : {Encoding::kJson, Encoding::kProtobuf, Encoding::kAuto}) {
    const absl::Status status = codec.Decode(input, encoding, kNowMs, &event);
    if (!status.ok()) {
      if (!IsKnownReason(civicpulse::core::RejectionOf(status).reason)) {
        Fail("rejection without a known reason", input);
      }
      continue;
    }
    if (!codec.Validate(event, kNowMs).ok()) Fail("decoded event fails Validate", input);
    const Event decoded = event;
    std::string encoded;
    Event back;
    codec.EncodeProtobuf(decoded, &encoded);
    if (!codec.Decode(encoded, Encoding::kProtobuf, kNowMs, &back).ok() || !(back == decoded)) {
      Fail("protobuf round trip", input);
    }
    // JSON requires a participant; escaping may grow a value past the size limit.
    codec.EncodeJson(decoded, &encoded);
    if (decoded.has_participant &&
        encoded.size() <= civicpulse::core::CodecOptions().max_value_bytes) {
      if (!codec.Decode(encoded, Encoding::kJson, kNowMs, &back).ok() || !(back == decoded)) {
        Fail("JSON round trip", input);
      }
    }
  }
  return 0;
}
