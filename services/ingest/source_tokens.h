// SourceTokens: who may post, from the --tokens-file. Each line is "<source>
// <token>"; blank lines and lines starting with '#' are ignored. A source name
// is 1-64 characters of [A-Za-z0-9._-] (it becomes a metric label and part of
// pseudonym input); a token is at least 16 characters without whitespace and
// names exactly one source (one source may have several tokens, e.g. while
// rotating). The token of a request decides its source.
//
// Immutable after Parse(); thread-safe. Only SHA-256 digests of the tokens are
// kept, and lookup compares against every digest in constant time. Does no I/O.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace civicpulse::ingest {

class SourceTokens {
 public:
  static absl::StatusOr<SourceTokens> Parse(std::string_view text);

  // The source of `token`, or nullopt when unknown.
  std::optional<std::string> SourceOf(std::string_view token) const;
  // Distinct source names, sorted (the metric label values).
  std::vector<std::string> sources() const;

  static bool IsValidSourceName(std::string_view name);

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    std::string source;
  };
  std::vector<Entry> entries_;
};

}  // namespace civicpulse::ingest
