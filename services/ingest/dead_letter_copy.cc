#include "dead_letter_copy.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "civicpulse/core/csv_import.h"
#include "civicpulse/core/text.h"

namespace civicpulse::ingest {
namespace {

// Names and enum values of the Event (docs/reference.md), the CSV columns and the
// GeoReport v2 fields: words that carry no identity.
constexpr std::string_view kVocabulary[] = {
    // Event fields and CSV columns.
    "event_id", "kind", "participant", "area", "occurred_at", "category", "hours",
    "organisation", "weight_kg", "material", "sector", "mode", "public_body", "coproduction",
    "age_band", "source",
    // Enum values.
    "watch_report", "volunteer_shift", "recycling", "community_safety", "local_environment",
    "public_health", "individual", "collective", "co_commissioning", "co_design",
    "co_delivery", "co_assessment", "16-24", "25-34", "35-44", "45-54", "55-64", "65-74",
    "75+", "unknown", "true", "false", "null",
    // GeoReport v2 request fields and states.
    "service_request_id", "token", "service_code", "service_name", "requested_datetime",
    "updated_datetime", "expected_datetime", "zipcode", "lat", "long", "address",
    "address_id", "description", "status", "status_notes", "agency_responsible",
    "service_notice", "media_url", "account_id", "email", "first_name", "last_name", "phone",
    "device_id", "open", "closed",
    // Common materials and categories of the demo and the simulator.
    "glass", "paper", "plastic", "metal", "textiles", "garden", "suspicious_vehicle",
    "antisocial_behaviour"};

constexpr std::array<std::string_view, 15> kCsvColumns = {
    "event_id", "kind",  "participant",  "area",        "occurred_at",
    "category", "hours", "organisation", "weight_kg",   "material",
    "sector",   "mode",  "public_body",  "coproduction", "age_band"};

bool IsStructural(char c) {
  return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':';
}

// A date-time, date or time: digits with the separators of RFC 3339 and of the CSV's
// "YYYY-MM-DD HH:MM:SS"; never an id.
bool IsDateTime(std::string_view text) {
  if (text.size() < 10 || text.size() > 40) return false;
  for (size_t i = 0; i < 4; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  if (text[4] != '-') return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' || c == ':' ||
           c == 'T' || c == 't' || c == 'Z' || c == 'z' || c == '+' || c == '.' || c == ' ';
  });
}

// A number of at most 4 digits (a weight, hours, a coordinate's sign and dot included).
bool IsShortNumber(std::string_view text) {
  if (text.empty() || text.size() > 12) return false;
  int digits = 0;
  for (const char c : text) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      ++digits;
    } else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E') {
      return false;
    }
  }
  return digits > 0 && digits <= 4;
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

bool Hex4(std::string_view text, size_t at, uint32_t* value) {
  if (at + 4 > text.size()) return false;
  *value = 0;
  for (size_t k = at; k < at + 4; ++k) {
    const char c = text[k];
    const int digit = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
    if (digit < 0) return false;
    *value = *value * 16 + static_cast<uint32_t>(digit);
  }
  return true;
}

// The content of a quoted string with its JSON escapes resolved (a malformed escape is
// kept as written: the result is then replaced anyway, being no vocabulary).
std::string Unescape(std::string_view inner) {
  std::string out;
  out.reserve(inner.size());
  for (size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] != '\\' || i + 1 >= inner.size()) {
      out.push_back(inner[i]);
      continue;
    }
    const char e = inner[++i];
    switch (e) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        uint32_t code;
        if (!Hex4(inner, i + 1, &code)) {
          out.push_back('\\');
          out.push_back('u');
          break;
        }
        i += 4;
        uint32_t low;
        if (code >= 0xD800 && code <= 0xDBFF && i + 2 < inner.size() && inner[i + 1] == '\\' &&
            inner[i + 2] == 'u' && Hex4(inner, i + 3, &low) && low >= 0xDC00 && low <= 0xDFFF) {
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        AppendUtf8(code, &out);
        break;
      }
      default: out.push_back(e); break;  // \" \\ \/ and anything malformed
    }
  }
  return out;
}

}  // namespace

DeadLetterCopy::DeadLetterCopy(Options options) : options_(std::move(options)) {}

bool DeadLetterCopy::IsHarmless(std::string_view text) const {
  if (std::find(std::begin(kVocabulary), std::end(kVocabulary), text) != std::end(kVocabulary)) return true;
  if (IsDateTime(text)) return true;
  return options_.is_known_area && !text.empty() && options_.is_known_area(text);
}

void DeadLetterCopy::AppendReplacement(std::string_view text, std::string_view source,
                                       std::string* out) const {
  out->push_back('"');
  out->append(options_.pseudonymizer->Pseudonym(source, text));
  out->push_back('"');
}

std::string DeadLetterCopy::Json(std::string_view text, std::string_view source) const {
  std::string out;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n && out.size() <= options_.max_bytes) {
    const char c = text[i];
    if (core::text::IsJsonSpace(c) || IsStructural(c)) {
      out.push_back(c);
      ++i;
    } else if (c == '"' || c == '\'') {  // a string, in either quote, maybe unterminated
      size_t j = i + 1;
      while (j < n && text[j] != c) j += text[j] == '\\' ? 2 : 1;
      j = std::min(j, n);
      const std::string content = Unescape(text.substr(i + 1, j - i - 1));
      if (IsHarmless(content)) {
        out.push_back('"');
        out.append(content);  // vocabulary: plain ASCII, nothing to escape
        out.push_back('"');
      } else {
        AppendReplacement(content, source, &out);
      }
      i = j < n ? j + 1 : n;
    } else {  // an unquoted word: a number, a literal, or a bare string
      size_t j = i;
      while (j < n && !core::text::IsJsonSpace(text[j]) && !IsStructural(text[j]) &&
             text[j] != '"' && text[j] != '\'') {
        ++j;
      }
      const std::string_view word = text.substr(i, j - i);
      if (word == "true" || word == "false" || word == "null" || IsShortNumber(word)) {
        out.append(word);
      } else if (IsHarmless(word)) {
        out.push_back('"');
        out.append(word);
        out.push_back('"');
      } else {
        AppendReplacement(word, source, &out);
      }
      i = j;
    }
  }
  return out;
}

std::string DeadLetterCopy::CsvRow(const std::vector<std::string>& cells,
                                   std::string_view source) const {
  std::vector<std::string> copy;
  size_t bytes = 0;
  for (const std::string& cell : cells) {
    if (bytes > options_.max_bytes) break;  // the rest would be cut anyway
    if (IsHarmless(cell) || IsShortNumber(cell) || cell.empty()) {
      copy.push_back(cell);
    } else {
      copy.push_back(options_.pseudonymizer->Pseudonym(source, cell));
    }
    bytes += copy.back().size() + 1;
  }
  return core::FormatCsvRow(copy);
}

std::string DeadLetterCopy::CsvHeader(const std::vector<std::string>& cells) {
  std::vector<std::string> names;
  for (const std::string& cell : cells) {
    const std::string name =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(core::text::ToAbsl(cell)));
    names.push_back(std::find(kCsvColumns.begin(), kCsvColumns.end(), name) != kCsvColumns.end()
                        ? name
                        : "?");
  }
  return core::FormatCsvRow(names);
}

}  // namespace civicpulse::ingest
