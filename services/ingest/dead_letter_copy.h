// DeadLetterCopy: what of a rejected input record may go to the dead-letter topic.
//
// A record is rejected because something about it is wrong, so its structure cannot be
// trusted: a JSON object may be malformed (single quotes, an escaped key such as
// "p\u0061rticipant", a missing brace), a CSV row may have shifted or swapped cells. So the
// copy does not look for "the participant field": every string of the record is replaced
// by its pseudonym (Pseudonymizer, keyed by the source, as the events' participants are)
// unless it is harmless vocabulary: an Event / CSV / Open311 field name, an enum value, an
// age band, a known area (--areas-file), or a date-time. Unquoted words (`{participant:
// bob}`) are strings too; numbers are kept when they have at most 4 digits (weights,
// hours), and replaced otherwise (phone and account numbers). Keys are re-written in plain
// form, so escapes cannot hide a name. The copy of well-formed JSON is well-formed JSON.
//
// Every scan is one linear pass; the copy is cut at `max_bytes` (the rest is not
// scanned), and the caller reports the cut (batch.h: `truncated`, `original-size`,
// `original-hmac-sha256`). The output is ASCII, so a cut never splits a character.
//
// Thread-safe (immutable after construction). Does no I/O.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pseudonymizer.h"

namespace civicpulse::ingest {

class DeadLetterCopy {
 public:
  struct Options {
    const Pseudonymizer* pseudonymizer = nullptr;  // required
    // Areas that may appear in clear (the --areas-file); none when empty.
    std::function<bool(std::string_view)> is_known_area;
    size_t max_bytes = 64 * 1024;
  };
  explicit DeadLetterCopy(Options options);

  // The copy of a JSON record (well-formed or not) received from `source`.
  std::string Json(std::string_view text, std::string_view source) const;
  // The copy of a CSV row's cells, formatted as one RFC 4180 row.
  std::string CsvRow(const std::vector<std::string>& cells, std::string_view source) const;
  // A CSV header row for the `csv-header` header: known column names in clear, any other
  // name replaced by "?" (a file without a header row has data there).
  static std::string CsvHeader(const std::vector<std::string>& cells);

  // True when `text` (unescaped) may appear in clear.
  bool IsHarmless(std::string_view text) const;

 private:
  void AppendReplacement(std::string_view text, std::string_view source,
                         std::string* out) const;
  Options options_;
};

}  // namespace civicpulse::ingest
