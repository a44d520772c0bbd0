#include "batch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "civicpulse/core/csv_import.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/text.h"

namespace civicpulse::ingest {
namespace {

using core::Event;
using core::EventCodec;
using core::Kind;
using core::Rejection;

constexpr size_t npos = std::string_view::npos;
constexpr char kJsonContentType[] = "application/json";
constexpr char kCsvContentType[] = "text/csv";

// Members of a GeoReport v2 request that identify a person (POST parameters
// that some cities echo in requests.json).
const std::vector<std::string_view>& Open311PersonalMembers() {
  static const auto* names = new std::vector<std::string_view>{
      "account_id", "email", "first_name", "last_name", "phone", "device_id"};
  return *names;
}

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

// ---- a structural JSON scan for the DLQ treatment
// ----------------------------------------

// Index just past the string token at text[i] == '"'; npos when it is not
// terminated.
size_t StringEnd(std::string_view text, size_t i) {
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return npos;
}

// Index just past the JSON value at text[i] (structure only); npos when it does
// not end.
size_t ValueEnd(std::string_view text, size_t i) {
  int depth = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"') {
      i = StringEnd(text, i);
      if (i == npos) return npos;
      if (depth == 0) return i;
    } else if (c == '{' || c == '[') {
      ++depth;
      ++i;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;
      ++i;
      if (--depth == 0) return i;
    } else if (depth == 0 && (c == ',' || IsJsonSpace(c))) {
      return i;
    } else {
      ++i;
    }
  }
  return depth == 0 ? text.size() : npos;
}

void AppendUtf8(uint32_t code, std::string* out) {
  if (code < 0x80) {
    out->push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code >> 6)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

// The content of a JSON string token (quotes included in `token`), unescaped;
// the raw content when an escape is malformed.
std::string StringContent(std::string_view token) {
  const std::string_view inner = token.substr(1, token.size() - 2);
  if (inner.find('\\') == npos) return std::string(inner);
  std::string out;
  auto hex4 = [inner](size_t at, uint32_t* value) {
    if (at + 4 > inner.size()) return false;
    *value = 0;
    for (size_t k = at; k < at + 4; ++k) {
      const char c = inner[k];
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      if (digit < 0) return false;
      *value = *value * 16 + static_cast<uint32_t>(digit);
    }
    return true;
  };
  for (size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] != '\\') {
      out.push_back(inner[i]);
      continue;
    }
    if (++i >= inner.size()) return std::string(inner);
    switch (inner[i]) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        uint32_t code;
        if (!hex4(i + 1, &code)) return std::string(inner);
        i += 4;
        uint32_t low;
        if (code >= 0xD800 && code <= 0xDBFF && i + 2 < inner.size() &&
            inner[i + 1] == '\\' && inner[i + 2] == 'u' && hex4(i + 3, &low) &&
            low >= 0xDC00 && low <= 0xDFFF) {
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        AppendUtf8(code, &out);
        break;
      }
      default:
        return std::string(inner);
    }
  }
  return out;
}

// Spans [begin, end) of the values of top-level members named in `names`, found
// by a structural scan of a JSON object; false when `json` is not a well-formed
// object at the top level (its members' values are not checked beyond their
// structure).
bool MemberValueSpans(std::string_view json,
                      const std::vector<std::string_view>& names,
                      std::vector<std::pair<size_t, size_t>>* spans,
                      std::vector<std::string>* hit) {
  size_t i = SkipSpace(json);
  if (i >= json.size() || json[i] != '{') return false;
  i = SkipSpace(json, i + 1);
  if (i < json.size() && json[i] == '}')
    return SkipSpace(json, i + 1) == json.size();
  for (;;) {
    if (i >= json.size() || json[i] != '"') return false;
    const size_t key_end = StringEnd(json, i);
    if (key_end == npos) return false;
    const std::string key = StringContent(json.substr(i, key_end - i));
    i = SkipSpace(json, key_end);
    if (i >= json.size() || json[i] != ':') return false;
    i = SkipSpace(json, i + 1);
    const size_t value_end = ValueEnd(json, i);
    if (value_end == npos || value_end == i) return false;
    if (std::find(names.begin(), names.end(), key) != names.end()) {
      spans->emplace_back(i, value_end);
      hit->push_back(key);
    }
    i = SkipSpace(json, value_end);
    if (i < json.size() && json[i] == ',') {
      i = SkipSpace(json, i + 1);
      continue;
    }
    if (i < json.size() && json[i] == '}')
      return SkipSpace(json, i + 1) == json.size();
    return false;
  }
}

// For text that is not a well-formed object: the value after every `"<name>"`
// followed by a colon, wherever it is (a string to its end or the end of the
// text, else a scalar).
void TextualValueSpans(std::string_view text,
                       const std::vector<std::string_view>& names,
                       std::vector<std::pair<size_t, size_t>>* spans,
                       std::vector<std::string>* hit) {
  for (const std::string_view name : names) {
    const std::string pattern = absl::StrCat("\"", ToAbsl(name), "\"");
    for (size_t at = text.find(pattern); at != npos;
         at = text.find(pattern, at + 1)) {
      size_t i = SkipSpace(text, at + pattern.size());
      if (i >= text.size() || text[i] != ':') continue;
      i = SkipSpace(text, i + 1);
      size_t end = ValueEnd(text, i);
      if (end == npos) end = text.size();
      if (end == i) continue;
      spans->emplace_back(i, end);
      hit->emplace_back(name);
    }
  }
  std::sort(spans->begin(), spans->end());
}

// ---- building
// ----------------------------------------------------------------------------

class Builder {
 public:
  explicit Builder(const BatchContext& context)
      : context_(context), codec_({.max_json_depth = context.max_json_depth}) {}

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
    OutRecord record;
    record.topic = OutTopic::kEvents;
    record.key = event->area;
    record.occurred_at_ms = event->occurred_at_ms;
    codec_.EncodeProtobuf(*event, &record.value);
    batch_.records.push_back(std::move(record));
    ++batch_.accepted[static_cast<int>(event->kind) - 1];
    return absl::OkStatus();
  }

  // Lists the rejection and sends `dlq_value` (already pseudonymised) to the
  // DLQ.
  void Reject(int position, int column, std::optional<Kind> kind,
              const absl::Status& status, std::string dlq_value,
              std::string_view content_type,
              const std::vector<std::string>& pseudonymised,
              kafka::Headers extra = {}) {
    Rejection rejection = core::RejectionOf(status);
    OutRecord record;
    record.topic = OutTopic::kDeadLetter;
    record.value = std::move(dlq_value);
    record.headers = {{"error", rejection.reason},
                      {"error-detail", rejection.detail},
                      {"content-type", std::string(content_type)},
                      {"source", context_.source}};
    if (!pseudonymised.empty()) {
      std::string names;
      for (const std::string& name : pseudonymised) {
        if (names.find(name) != npos) continue;
        if (!names.empty()) names.push_back(',');
        names.append(name);
      }
      record.headers.emplace_back("pseudonymised", names);
    }
    for (auto& header : extra) record.headers.push_back(std::move(header));
    batch_.records.push_back(std::move(record));
    batch_.rejected.push_back(
        RejectedRecord{.position = position,
                       .column = column,
                       .kind = kind,
                       .field = std::move(rejection.field),
                       .reason = std::move(rejection.reason),
                       .detail = std::move(rejection.detail)});
  }

  // A JSON input record: decoded by `decode` into an event, or rejected with
  // its DLQ copy.
  template <typename Decode>
  void JsonRecord(std::string_view text, int position, bool too_deep,
                  const std::vector<std::string_view>& personal,
                  std::optional<Kind> kind, Decode decode) {
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
    std::vector<std::string> replaced;
    std::string value = PseudonymiseJsonMembers(
        text, personal, *context_.pseudonymizer, context_.source, &replaced);
    Reject(position, 0, kind, status, std::move(value), kJsonContentType,
           replaced);
  }

 private:
  const BatchContext& context_;
  EventCodec codec_;
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

std::string PseudonymiseJsonMembers(std::string_view json,
                                    const std::vector<std::string_view>& names,
                                    const Pseudonymizer& pseudonymizer,
                                    std::string_view source,
                                    std::vector<std::string>* replaced) {
  std::vector<std::pair<size_t, size_t>> spans;
  replaced->clear();
  if (!MemberValueSpans(json, names, &spans, replaced)) {
    spans.clear();
    replaced->clear();
    TextualValueSpans(json, names, &spans, replaced);
  }
  std::string out;
  size_t copied = 0;
  for (const auto& [begin, end] : spans) {
    if (begin < copied) continue;  // overlapping matches of the textual scan
    out.append(json.substr(copied, begin - copied));
    const std::string_view token = json.substr(begin, end - begin);
    const bool string_token =
        token.size() >= 2 && token.front() == '"' && token.back() == '"';
    // An unterminated string (the text ended inside it) is an id without its
    // closing quote.
    const std::string id = string_token           ? StringContent(token)
                           : token.front() == '"' ? std::string(token.substr(1))
                                                  : std::string(token);
    absl::StrAppend(&out, "\"", pseudonymizer.Pseudonym(source, id), "\"");
    copied = end;
  }
  out.append(json.substr(copied));
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
  static const auto* kParticipant =
      new std::vector<std::string_view>{"participant"};
  for (const Piece& piece : pieces) {
    builder.JsonRecord(
        piece.text, piece.position, piece.too_deep, *kParticipant, std::nullopt,
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
    builder.JsonRecord(piece.text, piece.position, piece.too_deep,
                       Open311PersonalMembers(), Kind::kWatchReport,
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
  const int participant = import->participant_column();
  const size_t header_cells = import->header_columns();
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
    // The DLQ copy: the row with every cell that may hold the participant
    // pseudonymised.
    std::vector<std::string> cells = row.cells;
    const int shift = std::abs(static_cast<int>(cells.size()) -
                               static_cast<int>(header_cells));
    std::vector<std::string> replaced;
    for (int c = std::max(0, participant - shift);
         c <= participant + shift && c < static_cast<int>(cells.size()); ++c) {
      cells[c] = context.pseudonymizer->Pseudonym(context.source, cells[c]);
      replaced = {"participant"};
    }
    builder.Reject(row.line, column, kind, status, core::FormatCsvRow(cells),
                   kCsvContentType, replaced,
                   {{"csv-header", std::string(import->header_text())},
                    {"line", std::to_string(row.line)}});
  }
  return std::move(builder.FinishInEventTimeOrder());
}

}  // namespace civicpulse::ingest
