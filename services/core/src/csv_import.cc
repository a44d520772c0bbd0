#include "civicpulse/core/csv_import.h"

#include <array>
#include <charconv>
#include <cmath>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/open311.h"
#include "civicpulse/core/text.h"

namespace civicpulse::core {
namespace {

using text::Cat;
using text::Describe;
using text::ToAbsl;

// Reads at most this many cells of one row; the rest of a wider row is skipped.
constexpr size_t kMaxCellsRead = 1024;

constexpr std::array<std::string_view, CsvImport::kColumnCount> kColumnNames = {
    "event_id", "kind",  "participant",  "area",         "occurred_at",
    "category", "hours", "organisation", "weight_kg",    "material",
    "sector",   "mode",  "public_body",  "coproduction", "age_band"};


std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// Data rows in `text` after the header, counted by a quote-aware scan of line
// breaks (blank lines not counted). Used only for the up-front row limit.
size_t CountDataRows(std::string_view text) {
  size_t rows = 0;
  bool in_quotes = false, content = false;
  for (const char c : text) {
    if (c == '"') in_quotes = !in_quotes;
    if (!in_quotes && c == '\n') {
      rows += content;
      content = false;
    } else if (c != '\r') {
      content = true;
    }
  }
  rows += content;
  return rows == 0 ? 0 : rows - 1;
}

}  // namespace

CsvReader::CsvReader(std::string_view text) : text_(text) {
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

bool CsvReader::Next(CsvRow* row) {
  const size_t n = text_.size();
  // Blank lines are skipped.
  while (pos_ < n &&
         (text_[pos_] == '\n' ||
          (text_[pos_] == '\r' && pos_ + 1 < n && text_[pos_ + 1] == '\n'))) {
    pos_ += text_[pos_] == '\r' ? 2 : 1;
    ++line_;
  }
  if (pos_ >= n) return false;
  row->line = line_;
  row->cells.clear();
  row->malformed_column = 0;
  row->malformed_detail.clear();
  auto malformed = [row](size_t column, std::string_view detail) {
    if (row->malformed_column == 0) {
      row->malformed_column = static_cast<int>(column);
      row->malformed_detail.assign(detail);
    }
  };
  // A row ends at LF, CRLF, or a CR just before the end of the text.
  auto at_row_end = [this, n](size_t i) {
    return text_[i] == '\n' ||
           (text_[i] == '\r' && (i + 1 == n || text_[i + 1] == '\n'));
  };
  const size_t start = pos_;
  size_t column = 0;
  std::string cell;
  for (;;) {
    ++column;
    cell.clear();
    if (pos_ < n && text_[pos_] == '"') {
      ++pos_;
      bool closed = false;
      while (pos_ < n) {
        const char c = text_[pos_];
        if (c == '"') {
          if (pos_ + 1 < n && text_[pos_ + 1] == '"') {
            cell.push_back('"');
            pos_ += 2;
            continue;
          }
          ++pos_;
          closed = true;
          break;
        }
        if (c == '\n') ++line_;
        cell.push_back(c);
        ++pos_;
      }
      if (!closed)
        malformed(column, "quoted field not closed before the end of the text");
      while (pos_ < n && text_[pos_] != ',' && !at_row_end(pos_)) {
        malformed(column,
                  "characters after the closing quote (a quote inside a quoted "
                  "field is written \"\")");
        cell.push_back(text_[pos_++]);
      }
    } else {
      while (pos_ < n && text_[pos_] != ',' && !at_row_end(pos_)) {
        if (text_[pos_] == '"') {
          malformed(column,
                    "quote inside an unquoted field (quote the whole field)");
        }
        cell.push_back(text_[pos_++]);
      }
    }
    if (row->cells.size() < kMaxCellsRead) row->cells.push_back(cell);
    if (pos_ < n && text_[pos_] == ',') {
      ++pos_;
      continue;
    }
    break;
  }
  row->text = text_.substr(start, pos_ - start);
  if (pos_ < n && text_[pos_] == '\r') ++pos_;
  if (pos_ < n && text_[pos_] == '\n') {
    ++pos_;
    ++line_;
  }
  if (column > kMaxCellsRead) malformed(kMaxCellsRead + 1, "too many fields");
  return true;
}

std::string FormatCsvRow(const std::vector<std::string>& cells) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out.push_back(',');
    const std::string& cell = cells[i];
    if (cell.find_first_of(",\"\r\n") == std::string::npos) {
      out.append(cell);
      continue;
    }
    out.push_back('"');
    for (const char c : cell) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
  }
  return out;
}

CsvImport::CsvImport(std::string_view text, CsvOptions options)
    : options_(options), reader_(text) {
  for (int& column : columns_) column = -1;
}

absl::StatusOr<CsvImport> CsvImport::Start(std::string_view text,
                                           CsvOptions options) {
  CsvImport import(text, options);
  if (!import.reader_.Next(&import.header_)) {
    return absl::InvalidArgumentError(
        "empty CSV: a header row naming the columns is required");
  }
  const CsvRow& header = import.header_;
  if (header.malformed_column != 0) {
    return absl::InvalidArgumentError(Cat("header (line ", header.line,
                                          "), column ", header.malformed_column,
                                          ": ", header.malformed_detail));
  }
  if (header.cells.size() > options.max_columns) {
    return absl::InvalidArgumentError(Cat("header: ", header.cells.size(),
                                          " columns, at most ",
                                          options.max_columns));
  }
  if (!text::IsValidUtf8(header.text))
    return absl::InvalidArgumentError("header: not UTF-8");
  for (size_t i = 0; i < header.cells.size(); ++i) {
    const std::string name =
        absl::AsciiStrToLower(ToAbsl(Trim(header.cells[i])));
    for (int c = 0; c < kColumnCount; ++c) {
      if (kColumnNames[c] != name) continue;
      if (import.columns_[c] >= 0) {
        return absl::InvalidArgumentError(
            Cat("header: column \"", name, "\" appears twice (columns ",
                import.columns_[c] + 1, " and ", i + 1, ")"));
      }
      import.columns_[c] = static_cast<int>(i);
    }
  }
  std::vector<std::string_view> required = {"participant", "area",
                                            "occurred_at"};
  if (options.kind == Kind::kVolunteerShift) required.push_back("hours");
  if (options.kind == Kind::kRecycling) required.push_back("weight_kg");
  std::vector<std::string_view> missing;
  for (const std::string_view name : required) {
    for (int c = 0; c < kColumnCount; ++c) {
      if (kColumnNames[c] == name && import.columns_[c] < 0)
        missing.push_back(name);
    }
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(
        Cat("header: missing column", missing.size() > 1 ? "s " : " ",
            absl::StrJoin(
                missing, ", ",
                [](std::string* out, std::string_view s) { out->append(s); }),
            " (", KindName(options.kind), " needs ",
            absl::StrJoin(
                required, ", ",
                [](std::string* out, std::string_view s) { out->append(s); }),
            ")"));
  }
  if (const size_t rows = CountDataRows(text); rows > options.max_rows) {
    return absl::ResourceExhaustedError(
        Cat(rows, " rows in one request, at most ", options.max_rows));
  }
  return import;
}

int CsvImport::ColumnOf(std::string_view field) const {
  for (int c = 0; c < kColumnCount; ++c) {
    if (kColumnNames[c] == field) return columns_[c] + 1;
  }
  return 0;
}

bool CsvImport::Next(CsvRow* row, Event* event, absl::Status* status,
                     int* column) {
  if (!reader_.Next(row)) return false;
  *column = 0;
  *status = DecodeRow(*row, event, column);
  return true;
}

absl::Status CsvImport::DecodeRow(const CsvRow& row, Event* event,
                                  int* column) const {
  event->Clear();
  const std::string where_row = Cat("line ", row.line);
  if (row.malformed_column != 0) {
    *column = row.malformed_column;
    return RejectionError(kReasonInvalidCsv, "",
                          Cat(where_row, ", column ", row.malformed_column,
                              ": ", row.malformed_detail));
  }
  if (row.cells.size() != header_.cells.size()) {
    return RejectionError(
        kReasonInvalidCsv, "",
        Cat(where_row, ": ", row.cells.size(), " fields, the header has ",
            header_.cells.size()));
  }
  // Each cell: UTF-8 and bounded.
  for (size_t i = 0; i < row.cells.size(); ++i) {
    const bool participant =
        static_cast<int>(i) == columns_[kParticipantColumn];
    if (!text::IsValidUtf8(row.cells[i])) {
      *column = static_cast<int>(i) + 1;
      return RejectionError(kReasonInvalidUtf8,
                            participant ? "participant" : "",
                            Cat(where_row, ", column ", i + 1, ": not UTF-8"));
    }
    if (row.cells[i].size() > options_.max_cell_bytes) {
      *column = static_cast<int>(i) + 1;
      return RejectionError(
          kReasonTooLarge, participant ? "participant" : "",
          Cat(where_row, ", column ", i + 1, ": ", row.cells[i].size(),
              " bytes, at most ", options_.max_cell_bytes));
    }
  }
  auto cell = [&](Column c) -> std::string_view {
    return columns_[c] < 0 ? std::string_view() : Trim(row.cells[columns_[c]]);
  };
  auto reject = [&](Column c, std::string_view reason, std::string_view what) {
    *column = columns_[c] + 1;
    return RejectionError(reason, kColumnNames[c],
                          Cat(where_row, ", column ", columns_[c] + 1, " (",
                              kColumnNames[c], "): ", ToAbsl(what)));
  };
  auto required = [&](Column c, std::string_view* out) {
    *out = cell(c);
    if (out->empty()) return reject(c, kReasonMissingField, "required, empty");
    return absl::OkStatus();
  };

  event->SetKind(options_.kind);
  event->event_id.assign(cell(kEventIdColumn));
  if (const std::string_view kind = cell(kKindColumn);
      !kind.empty() && kind != KindName(options_.kind)) {
    return reject(
        kKindColumn, kReasonInvalidValue,
        Cat("this import is of kind ", ToAbsl(KindName(options_.kind)),
            ", the row says ", Describe(kind)));
  }
  std::string_view text;
  if (absl::Status s = required(kParticipantColumn, &text); !s.ok()) return s;
  event->participant.assign(text);
  if (absl::Status s = required(kAreaColumn, &text); !s.ok()) return s;
  event->area.assign(text);
  if (absl::Status s = required(kOccurredAtColumn, &text); !s.ok()) return s;
  if (!ParseDateTime(text, options_.time_zone, &event->occurred_at_ms)) {
    return reject(
        kOccurredAtColumn, kReasonInvalidTimestamp,
        Cat("not a date-time (RFC 3339, or YYYY-MM-DD HH:MM[:SS] in the "
            "configured time zone): ",
            Describe(text)));
  }
  const bool shift = options_.kind == Kind::kVolunteerShift;
  if (shift || options_.kind == Kind::kRecycling) {
    const Column c = shift ? kHoursColumn : kWeightKgColumn;
    const double max = shift ? 24 : 1000;
    if (absl::Status s = required(c, &text); !s.ok()) return s;
    double value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || ptr != end) {
      return reject(c, kReasonWrongType, Cat("not a number: ", Describe(text)));
    }
    if (!(value > 0 && value <= max)) {
      return reject(c, kReasonOutOfRange,
                    Cat("must be > 0 and <= ", max, ", got ", Describe(text)));
    }
    (shift ? event->hours : event->weight_kg) = value;
  }
  event->category.assign(cell(kCategoryColumn));
  event->organisation.assign(cell(kOrganisationColumn));
  event->material.assign(cell(kMaterialColumn));
  if (text = cell(kSectorColumn); !text.empty()) {
    const std::optional<Sector> sector = ParseSector(text);
    if (!sector) {
      return reject(
          kSectorColumn, kReasonInvalidValue,
          Cat("unknown value ", Describe(text),
              " (want community_safety, local_environment or public_health)"));
    }
    event->sector = *sector;
  }
  if (text = cell(kModeColumn); !text.empty()) {
    const std::optional<Mode> mode = ParseMode(text);
    if (!mode) {
      return reject(kModeColumn, kReasonInvalidValue,
                    Cat("unknown value ", Describe(text),
                        " (want individual or collective)"));
    }
    event->mode = *mode;
  }
  if (text = cell(kPublicBodyColumn); !text.empty()) {
    const std::string lower = absl::AsciiStrToLower(ToAbsl(text));
    if (lower == "true" || lower == "yes" || lower == "1") {
      event->public_body = true;
    } else if (lower == "false" || lower == "no" || lower == "0") {
      event->public_body = false;
    } else {
      return reject(kPublicBodyColumn, kReasonInvalidValue,
                    Cat("unknown value ", Describe(text),
                        " (want true/false, yes/no or 1/0)"));
    }
  }
  if (text = cell(kCoproductionColumn); !text.empty()) {
    const std::optional<CoproductionType> type = ParseCoproductionType(text);
    if (!type) {
      return reject(kCoproductionColumn, kReasonInvalidValue,
                    Cat("unknown value ", Describe(text),
                        " (want co_commissioning, co_design, co_delivery or "
                        "co_assessment)"));
    }
    event->coproduction = *type;
  }
  event->age_band = ParseAgeBand(cell(kAgeBandColumn));
  return absl::OkStatus();
}

}  // namespace civicpulse::core
