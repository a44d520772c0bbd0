#include "civicpulse/runtime/protobuf_log.h"

#include <string>

#include "civicpulse/v1/event.pb.h"
#include "gtest/gtest.h"

namespace civicpulse::runtime {
namespace {

// A string field with invalid UTF-8 makes libprotobuf log one line per parse.
TEST(ProtobufLogTest, AFloodOfBadMessagesIsThrottled) {
  ThrottleProtobufLog(3);
  civicpulse::v1::Event event;
  event.set_event_id("x");
  std::string wire = event.SerializeAsString();
  wire.back() = '\xff';
  const int64_t before = SuppressedProtobufLogLines();
  for (int i = 0; i < 100; ++i) {
    civicpulse::v1::Event parsed;
    (void)parsed.ParseFromString(wire);
  }
  EXPECT_GE(SuppressedProtobufLogLines() - before, 90);
}

}  // namespace
}  // namespace civicpulse::runtime
