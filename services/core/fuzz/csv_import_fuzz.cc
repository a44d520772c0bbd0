// Fuzzes the CSV import: the first byte picks the kind, the rest is the file.
// Beyond "never crashes" it checks properties that must hold for any input:
// rows come in increasing line order; a rejection carries a known reason code
// and, when it names a column, one within the header; a well-formed row written
// back with FormatCsvRow reads back to the same cells (the DLQ copy of a row is
// faithful); an accepted row that passes Validate survives EncodeProtobuf ->
// Decode unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "civicpulse/core/csv_import.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
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
       {kReasonMissingField, kReasonWrongType, kReasonInvalidValue,
        kReasonOutOfRange, kReasonInvalidTimestamp, kReasonFutureTimestamp,
        kReasonInvalidUtf8, kReasonTooLarge, kReasonInvalidCsv}) {
    if (reason == known) return true;
  }
  return false;
}

absl::TimeZone* zone = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  zone = new absl::TimeZone;
  if (!absl::LoadTimeZone("Europe/London", zone)) *zone = absl::UTCTimeZone();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static EventCodec* codec = new EventCodec;
  const Kind kind = data[0] % 2 == 0 ? Kind::kRecycling : Kind::kVolunteerShift;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1,
                               size - 1);

  absl::StatusOr<CsvImport> import = CsvImport::Start(
      input, {.kind = kind, .time_zone = *zone, .max_rows = 1000});
  if (!import.ok()) {
    if (import.status().code() != absl::StatusCode::kInvalidArgument &&
        import.status().code() != absl::StatusCode::kResourceExhausted) {
      Fail("unexpected start status", input);
    }
    return 0;
  }
  const int columns = static_cast<int>(import->header_columns());
  CsvRow row;
  Event event;
  absl::Status status;
  int column = 0;
  int last_line = 1;
  while (import->Next(&row, &event, &status, &column)) {
    if (row.line <= last_line) Fail("rows out of line order", input);
    last_line = row.line;
    if (row.malformed_column == 0 &&
        !(row.cells.size() == 1 && row.cells[0].empty()) &&
        row.cells[0].rfind("\xEF\xBB\xBF", 0) !=
            0) {  // a leading BOM is skipped on reading
      const std::string written =
          FormatCsvRow(row.cells);  // CsvReader keeps a view of it
      CsvReader again(written);
      CsvRow back;
      if (!again.Next(&back) || back.cells != row.cells ||
          back.malformed_column != 0) {
        Fail("FormatCsvRow does not read back to the same cells", input);
      }
    }
    if (!status.ok()) {
      if (!IsKnownReason(RejectionOf(status).reason))
        Fail("unknown reason code", input);
      if (column < 0 || (column > columns &&
                         RejectionOf(status).reason != kReasonInvalidCsv)) {
        Fail("column outside the header", input);
      }
      continue;
    }
    if (event.kind != kind || event.participant.empty() || event.area.empty()) {
      Fail("an accepted row lacks kind, participant or area", input);
    }
    if (event.event_id.empty()) event.event_id = "derived";
    if (!codec->Validate(event, kNowMs).ok()) continue;
    std::string bytes;
    codec->EncodeProtobuf(event, &bytes);
    Event back;
    if (!codec->Decode(bytes, Encoding::kProtobuf, kNowMs, &back).ok()) {
      Fail("a valid row does not survive protobuf", input);
    }
    if (!(back == event)) Fail("protobuf round trip changed the event", input);
  }
  return 0;
}
