// CsvImport: turns a CSV export (a recycling site's weigh-ins, a volunteer
// coordinator's shift sheet) into events of one kind.
//
// The text is RFC 4180: a header row, then one record per row; fields separated
// by commas, optionally quoted with '"' ("" inside quotes is a quote; quoted
// fields may hold commas and line breaks); rows end with CRLF or LF. A UTF-8
// byte-order mark is skipped, blank lines are ignored. Header names are the
// event's JSON field names (docs/reference.md), matched without regard to case or
// surrounding blanks; unknown columns are ignored. Required columns:
// participant, area, occurred_at, and hours (volunteer_shift) or weight_kg
// (recycling); optional: event_id, category, organisation, material, sector,
// mode, public_body (true/false/yes/no/1/0), coproduction, age_band. A kind
// column, when present, must name the import's kind. occurred_at is RFC 3339,
// or a civil "YYYY-MM-DD HH:MM[:SS]" read in the configured time zone.
//
// A row that breaks a rule is rejected alone, with its line (the physical line
// where the row starts; the header is line 1) and column (1-based, 0 for the
// row as a whole). A header that cannot be used rejects the whole text. A
// rejection detail never quotes the participant cell.
//
// Without an event_id column, rows leave event_id empty: the caller derives one
// (the ingest gateway uses a keyed hash of source, kind and the row's text, so
// that re-sending a file produces the same ids and the aggregator counts each
// row once).
//
// Thread-compatible; the returned views point into the text given to Start().
// Does no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "civicpulse/core/event.h"

namespace civicpulse::core {

// Reason code of a row that is not well-formed CSV (quotes, field count).
inline constexpr std::string_view kReasonInvalidCsv = "invalid_csv";

struct CsvOptions {
  Kind kind = Kind::kRecycling;
  // Time zone of occurred_at values without an offset.
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // Start() fails with ResourceExhausted beyond this many data rows (checked up
  // front).
  size_t max_rows = 10000;
  size_t max_columns = 64;
  // Cells longer than this are rejected (too_large).
  size_t max_cell_bytes = 4096;
};

// One data row as read.
struct CsvRow {
  int line = 0;           // where the row starts (1-based)
  std::string_view text;  // the row's raw text, without its line break
  std::vector<std::string>
      cells;  // unquoted cells (as far as they could be read)
  // 1-based column of the first malformed cell, 0 when the row is well-formed.
  int malformed_column = 0;
  std::string malformed_detail;
};

// Reads RFC 4180 rows one at a time; a malformed row is read leniently to its
// end (a stray quote is kept as a character) so that the next row starts in the
// right place.
class CsvReader {
 public:
  // `text` must outlive the reader (it keeps a view).
  explicit CsvReader(std::string_view text);
  // Reads the next non-blank row into *row; false at the end of the text.
  bool Next(CsvRow* row);

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
};

// Writes `cells` as one RFC 4180 row (no line break), quoting where needed.
std::string FormatCsvRow(const std::vector<std::string>& cells);

class CsvImport {
 public:
  // Reads the header. InvalidArgument when it is missing, names a required
  // column not at all or a column twice; ResourceExhausted when the text holds
  // more than max_rows rows.
  static absl::StatusOr<CsvImport> Start(std::string_view text,
                                         CsvOptions options);

  // Reads the next data row into *row and decodes it into *event (cleared
  // first); false at the end. *status is OK, or a RejectionError
  // (event_codec.h) whose field is the column name; *column is the 1-based
  // column (0 for the whole row). The event is not checked against the clock
  // here (EventCodec::Validate does that).
  bool Next(CsvRow* row, Event* event, absl::Status* status, int* column);

  // The header row's raw text and cells, and the column of the participant
  // (0-based).
  std::string_view header_text() const { return header_.text; }
  size_t header_columns() const { return header_.cells.size(); }
  const std::vector<std::string>& header_cells() const { return header_.cells; }
  int participant_column() const { return columns_[kParticipantColumn]; }
  // The 1-based column holding `field` (an event field name), 0 when there is
  // none.
  int ColumnOf(std::string_view field) const;

  // Column slots, by field.
  enum Column : uint8_t {
    kEventIdColumn,
    kKindColumn,
    kParticipantColumn,
    kAreaColumn,
    kOccurredAtColumn,
    kCategoryColumn,
    kHoursColumn,
    kOrganisationColumn,
    kWeightKgColumn,
    kMaterialColumn,
    kSectorColumn,
    kModeColumn,
    kPublicBodyColumn,
    kCoproductionColumn,
    kAgeBandColumn,
    kColumnCount,
  };

 private:
  CsvImport(std::string_view text, CsvOptions options);
  absl::Status DecodeRow(const CsvRow& row, Event* event, int* column) const;

  CsvOptions options_;
  CsvReader reader_;
  CsvRow header_;
  int columns_[kColumnCount];  // 0-based index in the row, -1 when absent
};

}  // namespace civicpulse::core
