#include "source_tokens.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace civicpulse::ingest {
namespace {

std::array<unsigned char, 32> Digest(std::string_view token) {
  std::array<unsigned char, 32> digest;
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest.data());
  return digest;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

constexpr std::string_view kRouteNames[] = {"events", "open311", "csv"};  // Route order
constexpr std::string_view kKindNames[] = {"", "watch_report", "volunteer_shift",
                                           "recycling"};  // core::Kind order

// "routes=a,b" or "kinds=a,b" into the grant's masks. Errors name the word, which holds
// no token (the token is the second word).
absl::Status ParseScope(std::string_view word, SourceTokens::Grant* grant) {
  const size_t equals = word.find('=');
  const std::string_view name = word.substr(0, equals);
  if (equals == std::string_view::npos || (name != "routes" && name != "kinds")) {
    return absl::InvalidArgumentError("after the token: routes=... or kinds=...");
  }
  const bool routes = name == "routes";
  uint32_t mask = 0;
  for (absl::string_view value :
       absl::StrSplit(absl::string_view(word.data() + equals + 1, word.size() - equals - 1),
                      ',')) {
    bool found = false;
    const auto* begin = routes ? std::begin(kRouteNames) : std::begin(kKindNames) + 1;
    const auto* end = routes ? std::end(kRouteNames) : std::end(kKindNames);
    for (const auto* it = begin; it != end; ++it) {
      if (*it == std::string_view(value.data(), value.size())) {
        mask |= 1u << (routes ? it - std::begin(kRouteNames) : it - std::begin(kKindNames));
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          routes ? "routes are events, open311, csv"
                 : "kinds are watch_report, volunteer_shift, recycling");
    }
  }
  (routes ? grant->routes : grant->kinds) = mask;
  return absl::OkStatus();
}

}  // namespace

bool SourceTokens::IsValidSourceName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<SourceTokens> SourceTokens::Parse(std::string_view text) {
  SourceTokens tokens;
  int line_number = 0;
  for (absl::string_view raw :
       absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_number;
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < raw.size()) {
      while (i < raw.size() && IsSpace(raw[i])) ++i;
      const size_t start = i;
      while (i < raw.size() && !IsSpace(raw[i])) ++i;
      if (i > start) words.emplace_back(raw.data() + start, i - start);
    }
    if (words.empty() || words[0][0] == '#') continue;
    // Never echo a token in an error: the message may end up in logs.
    if (words.size() < 2 || words.size() > 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number,
          ": expected \"<source> <token> [routes=...] [kinds=...]\""));
    }
    if (!IsValidSourceName(words[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number,
          ": a source name is 1-64 characters of A-Z a-z 0-9 . _ -"));
    }
    if (words[1].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number, ": a token needs at least 16 characters"));
    }
    Entry entry{Digest(words[1]), Grant{.source = std::string(words[0])}};
    for (size_t w = 2; w < words.size(); ++w) {
      if (absl::Status s = ParseScope(words[w], &entry.grant); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", s.message()));
      }
    }
    for (const Entry& other : tokens.entries_) {
      if (other.digest == entry.digest) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", line_number, ": this token is already listed"));
      }
    }
    tokens.entries_.push_back(std::move(entry));
  }
  if (tokens.entries_.empty()) {
    return absl::InvalidArgumentError("no \"<source> <token>\" lines");
  }
  return tokens;
}

std::optional<std::string> SourceTokens::SourceOf(std::string_view token) const {
  std::optional<Grant> grant = Lookup(token);
  if (!grant) return std::nullopt;
  return grant->source;
}

std::optional<SourceTokens::Grant> SourceTokens::Lookup(std::string_view token) const {
  const std::array<unsigned char, 32> digest = Digest(token);
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    // Visit every entry, compare in constant time: timing tells nothing about
    // tokens.
    if (CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0)
      found = &entry;
  }
  if (found == nullptr) return std::nullopt;
  return found->grant;
}

std::vector<std::string> SourceTokens::sources() const {
  std::set<std::string> names;
  for (const Entry& entry : entries_) names.insert(entry.grant.source);
  return {names.begin(), names.end()};
}

}  // namespace civicpulse::ingest
