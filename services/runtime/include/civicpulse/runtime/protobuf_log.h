// ThrottleProtobufLog: libprotobuf writes one stderr line per malformed message it parses
// (e.g. a string field with invalid UTF-8), so a hostile producer could flood the log.
// After this call at most `per_minute` lines pass each minute; the rest are counted and
// summarised ("N more libprotobuf messages suppressed") with the next line let through.
// FATAL messages always pass. Installed by FinishCommonFlags, so every binary has it.
//
// Thread-safe (the handler may run on any thread); call once, before threads start.
#pragma once

#include <cstdint>

namespace civicpulse::runtime {

void ThrottleProtobufLog(int per_minute = 10);
// Lines suppressed so far (for tests).
int64_t SuppressedProtobufLogLines();

}  // namespace civicpulse::runtime
