#include "batch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "civicpulse/core/csv_import.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/areas.h"
#include "civicpulse/core/text.h"
#include "dead_letter_copy.h"

namespace civicpulse::ingest {
namespace {

using core::Event;
using core::EventCodec;
using core::Kind;
using core::Rejection;

constexpr size_t npos = std::string_view::npos;
constexpr size_t kMaxDetailBytes = 256;
constexpr char kJsonContentType[] = "application/json";
constexpr char kCsvContentType[] = "text/csv";

using core::text::IsJsonSpace;
using core::text::ToAbsl;

// Skips JSON whitespace and a leading UTF-8 byte-order mark.
size_t SkipSpace(std::string_view text, size_t i = 0) {
  if (i == 0 && text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < text.size() && IsJsonSpace(text[i])) ++i;
  return i;
}

void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20) {
      const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out->append(escape, sizeof(escape));
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

// ---- building
// ----------------------------------------------------------------------------

class Builder {
 public:
  explicit Builder(const BatchContext& context)
      : context_(context),
        codec_({.max_json_depth = context.max_json_depth}),
        copy_({.pseudonymizer = context.pseudonymizer,
               .is_known_area = context.is_known_area,
               .max_bytes = context.max_dead_letter_bytes}) {}

  const DeadLetterCopy& copy() const { return copy_; }

  Batch& batch() { return batch_; }
  EventCodec& codec() { return codec_; }

  // The batch with its events in event-time order (stable; dead letters stay where they
  // are). Exports such as Open311's requests.json list the newest first; produced in that
  // order, all but the newest hour of a backfill would be late at the aggregator.
  Batch& FinishInEventTimeOrder() {
    std::vector<OutRecord*> events;
    for (OutRecord& record : batch_.records) {
      if (record.topic == OutTopic::kEvents) events.push_back(&record);
    }
    std::vector<OutRecord> sorted;
    sorted.reserve(events.size());
    for (OutRecord* record : events) sorted.push_back(std::move(*record));
    std::stable_sort(sorted.begin(), sorted.end(), [](const OutRecord& a, const OutRecord& b) {
      return a.occurred_at_ms < b.occurred_at_ms;
    });
    size_t next = 0;
    for (OutRecord& record : batch_.records) {
      if (record.topic == OutTopic::kEvents) record = std::move(sorted[next++]);
    }
    return batch_;
  }

  // Pseudonymises, stamps the source, validates and encodes an event built by a
  // decoder.
  absl::Status Accept(Event* event) {
    if (event->has_participant) {
      event->participant = context_.pseudonymizer->Pseudonym(
          context_.source, event->participant);
    }
    event->source = context_.source;
    if (absl::Status s = codec_.Validate(*event, context_.now_ms); !s.ok())
      return s;
    if (absl::Status s = CheckArea(event->area); !s.ok()) return s;
    if (!((context_.allowed_kinds >> static_cast<int>(event->kind)) & 1u)) {
      return core::RejectionError(kReasonKindNotAllowed, "kind",
                                  "kind: this token may not post it");
    }
    OutRecord record;
    record.topic = OutTopic::kEvents;
    record.key = event->area;
    record.occurred_at_ms = event->occurred_at_ms;
    codec_.EncodeProtobuf(*event, &record.value);
    batch_.records.push_back(std::move(record));
    ++batch_.accepted[static_cast<int>(event->kind) - 1];
    return absl::OkStatus();
  }

  // Lists the rejection and sends `copy` (a DeadLetterCopy of `original`) to the DLQ,
  // cut to max_dead_letter_bytes. Headers never quote the input: `error-detail` comes
  // from the decoders, which describe values without quoting them.
  void Reject(int position, int column, std::optional<Kind> kind, const absl::Status& status,
              std::string copy, std::string_view original, std::string_view content_type,
              kafka::Headers extra = {}) {
    Rejection rejection = core::RejectionOf(status);
    if (rejection.detail.size() > kMaxDetailBytes) rejection.detail.resize(kMaxDetailBytes);
    OutRecord record;
    record.topic = OutTopic::kDeadLetter;
    record.headers = {{"error", rejection.reason},
                      {"error-detail", rejection.detail},
                      {"content-type", std::string(content_type)},
                      {"source", context_.source},
                      {"pseudonymised", "strings"}};
    if (copy.size() > context_.max_dead_letter_bytes) {
      copy.resize(context_.max_dead_letter_bytes);  // ASCII: no character is split
      record.headers.emplace_back("truncated", "true");
    }
    if (original.size() > context_.max_dead_letter_bytes) {
      record.headers.emplace_back("original-size", std::to_string(original.size()));
      record.headers.emplace_back(
          "original-hmac-sha256",
          context_.pseudonymizer->Hmac(absl::StrCat("#dead-letter:", ToAbsl(original))));
    }
    record.value = std::move(copy);
    for (auto& header : extra) record.headers.push_back(std::move(header));
    batch_.records.push_back(std::move(record));
    batch_.rejected.push_back(RejectedRecord{.position = position,
                                             .column = column,
                                             .kind = kind,
                                             .field = std::move(rejection.field),
                                             .reason = std::move(rejection.reason),
                                             .detail = std::move(rejection.detail)});
  }

  // A JSON input record: decoded by `decode` into an event, or rejected with
  // its DLQ copy.
  template <typename Decode>
  void JsonRecord(std::string_view text, int position, bool too_deep, std::optional<Kind> kind,
                  Decode decode) {
    absl::Status status;
    if (too_deep) {
      status = core::RejectionError(
          core::kReasonInvalidJson, "",
          absl::StrCat("JSON nested deeper than ", context_.max_json_depth));
    } else {
      status = decode(text, &event_);
      if (status.ok()) status = Accept(&event_);
    }
    if (status.ok()) return;
    Reject(position, 0, kind, status, copy_.Json(text, context_.source), text,
           kJsonContentType);
  }

 private:
  // Areas become Kafka keys and metric labels: only listed ones (--areas-file), else
  // only names of the shape docs/reference.md gives.
  absl::Status CheckArea(std::string_view area) const {
    if (context_.is_known_area) {
      if (context_.is_known_area(area)) return absl::OkStatus();
      return core::RejectionError(core::kReasonUnknownArea, "area", "area: not in the areas file");
    }
    if (core::IsValidAreaName(area)) return absl::OkStatus();
    return core::RejectionError(core::kReasonInvalidValue, "area",
                                core::kAreaNameRule);
  }

  const BatchContext& context_;
  EventCodec codec_;
  DeadLetterCopy copy_;
  Event event_;
  Batch batch_;
};

struct Piece {
  std::string_view text;
  int position;
  bool too_deep;
};

// The records of a JSON body: a single object or an array's elements.
absl::Status JsonPieces(std::string_view body, const BatchContext& context,
                        std::vector<Piece>* pieces) {
  const size_t start = SkipSpace(body);
  if (start >= body.size()) return absl::InvalidArgumentError("empty body");
  if (body[start] == '[') {
    std::vector<core::JsonElement> elements;
    if (absl::Status s = core::SplitJsonArray(body, context.max_json_depth,
                                              context.max_records, &elements);
        !s.ok()) {
      return s;
    }
    for (const core::JsonElement& e : elements)
      pieces->push_back({e.text, e.index, e.too_deep});
    return absl::OkStatus();
  }
  if (body[start] == '{') {
    pieces->push_back({body.substr(start), 0, false});
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "body is not JSON: send one object, an array of objects, or NDJSON with "
      "Content-Type: application/x-ndjson");
}

}  // namespace

int Batch::accepted_total() const {
  int total = 0;
  for (const int n : accepted) total += n;
  return total;
}

std::string Batch::ResponseJson(size_t max_errors) const {
  std::string out =
      absl::StrCat("{\"accepted\":", accepted_total(),
                   ",\"rejected\":", rejected.size(), ",\"errors\":[");
  const size_t shown = std::min(max_errors, rejected.size());
  for (size_t i = 0; i < shown; ++i) {
    const RejectedRecord& r = rejected[i];
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, "{\"", position_name, "\":", r.position);
    if (r.column > 0) absl::StrAppend(&out, ",\"column\":", r.column);
    out.append(",\"field\":");
    AppendJsonString(r.field, &out);
    out.append(",\"reason\":");
    AppendJsonString(r.reason, &out);
    out.append(",\"detail\":");
    AppendJsonString(r.detail, &out);
    out.push_back('}');
  }
  out.push_back(']');
  if (shown < rejected.size()) out.append(",\"errors_truncated\":true");
  out.append("}\n");
  return out;
}

absl::StatusOr<Batch> EventsBatch(std::string_view body, bool ndjson,
                                  const BatchContext& context) {
  std::vector<Piece> pieces;
  if (ndjson) {
    size_t start = body.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
    for (int line = 1; start <= body.size(); ++line) {
      size_t end = body.find('\n', start);
      if (end == npos) end = body.size();
      std::string_view text = body.substr(start, end - start);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      if (!std::all_of(text.begin(), text.end(), IsJsonSpace)) {
        if (pieces.size() >= context.max_records) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "more than ", context.max_records, " records in one request"));
        }
        pieces.push_back({text, line, false});
      }
      start = end + 1;
    }
    if (pieces.empty())
      return absl::InvalidArgumentError("empty body: no NDJSON lines");
  } else if (absl::Status s = JsonPieces(body, context, &pieces); !s.ok()) {
    return s;
  }
  Builder builder(context);
  builder.batch().position_name = ndjson ? "line" : "index";
  for (const Piece& piece : pieces) {
    builder.JsonRecord(
        piece.text, piece.position, piece.too_deep, std::nullopt,
        [&](std::string_view text, Event* event) {
          return builder.codec().Decode(text, core::Encoding::kJson,
                                        context.now_ms, event);
        });
  }
  return std::move(builder.FinishInEventTimeOrder());
}

absl::StatusOr<Batch> Open311Batch(std::string_view body,
                                   const BatchContext& context) {
  std::vector<Piece> pieces;
  if (absl::Status s = JsonPieces(body, context, &pieces); !s.ok()) return s;
  Builder builder(context);
  core::Open311Decoder decoder(context.open311,
                               {.max_json_depth = context.max_json_depth});
  for (const Piece& piece : pieces) {
    builder.JsonRecord(piece.text, piece.position, piece.too_deep, Kind::kWatchReport,
                       [&](std::string_view text, Event* event) {
                         return decoder.Decode(text, context.source, event);
                       });
  }
  return std::move(builder.FinishInEventTimeOrder());
}

absl::StatusOr<Batch> CsvBatch(std::string_view body, Kind kind,
                               const BatchContext& context) {
  if (body.empty()) return absl::InvalidArgumentError("empty body");
  absl::StatusOr<core::CsvImport> import =
      core::CsvImport::Start(body, {.kind = kind,
                                    .time_zone = context.csv_time_zone,
                                    .max_rows = context.max_records});
  if (!import.ok()) return import.status();
  Builder builder(context);
  builder.batch().position_name = "line";
  const std::string csv_header = DeadLetterCopy::CsvHeader(import->header_cells());
  const std::string kind_name(core::KindName(kind));
  core::CsvRow row;
  Event event;
  absl::Status status;
  int column = 0;
  while (import->Next(&row, &event, &status, &column)) {
    if (status.ok()) {
      if (event.event_id.empty()) {
        event.event_id = absl::StrCat(
            "csv-", context.pseudonymizer
                        ->Hmac(absl::StrCat("#event_id:", context.source, ":",
                                            kind_name, ":", ToAbsl(row.text)))
                        .substr(0, 32));
      }
      status = builder.Accept(&event);
      if (!status.ok())
        column = import->ColumnOf(core::RejectionOf(status).field);
    }
    if (status.ok()) continue;
    // The DLQ copy: every cell that is not harmless vocabulary pseudonymised, wherever
    // the participant may have shifted to.
    builder.Reject(row.line, column, kind, status,
                   builder.copy().CsvRow(row.cells, context.source), row.text,
                   kCsvContentType,
                   {{"csv-header", csv_header}, {"line", std::to_string(row.line)}});
  }
  return std::move(builder.FinishInEventTimeOrder());
}

}  // namespace civicpulse::ingest
