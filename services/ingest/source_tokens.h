// SourceTokens: who may post what, from the --tokens-file. Each line is
//
//   <source> <token> [routes=<route>,...] [kinds=<kind>,...]
//
// blank lines and lines starting with '#' are ignored. A source name is 1-64
// characters of [A-Za-z0-9._-] (it becomes a metric label and part of pseudonym
// input); a token is at least 16 characters without whitespace and names exactly
// one source (one source may have several tokens, e.g. while rotating). The token
// of a request decides its source. `routes` limits the token to some of `events`
// (POST /v1/events), `open311` and `csv` (others answer 403); `kinds` to some of
// `watch_report`, `volunteer_shift`, `recycling` (an event of another kind is
// rejected kind_not_allowed; a CSV import of another kind answers 403). Without
// them a token may post everything. Example:
//
//   nw-app   3f1c...e9  routes=events kinds=watch_report
//   council  8a0b...71  routes=csv,open311
//
// Immutable after Parse(); thread-safe. Only SHA-256 digests of the tokens are
// kept, and lookup compares against every digest in constant time. Does no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace civicpulse::ingest {

class SourceTokens {
 public:
  // What one token may do.
  struct Grant {
    std::string source;
    uint32_t routes = ~0u;  // bit static_cast<int>(Route)
    uint32_t kinds = ~0u;   // bit static_cast<int>(core::Kind)
    bool AllowsRoute(int route) const { return (routes >> route) & 1u; }
    bool AllowsKind(int kind) const { return (kinds >> kind) & 1u; }
  };

  static absl::StatusOr<SourceTokens> Parse(std::string_view text);

  // The grant of `token`, or nullopt when unknown.
  std::optional<Grant> Lookup(std::string_view token) const;
  // The source of `token`, or nullopt when unknown.
  std::optional<std::string> SourceOf(std::string_view token) const;
  // Distinct source names, sorted (the metric label values).
  std::vector<std::string> sources() const;

  static bool IsValidSourceName(std::string_view name);

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    Grant grant;
  };
  std::vector<Entry> entries_;
};

}  // namespace civicpulse::ingest
