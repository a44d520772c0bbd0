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
    if (words.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number, ": expected \"<source> <token>\""));
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
    Entry entry{Digest(words[1]), std::string(words[0])};
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

std::optional<std::string> SourceTokens::SourceOf(
    std::string_view token) const {
  const std::array<unsigned char, 32> digest = Digest(token);
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    // Visit every entry, compare in constant time: timing tells nothing about
    // tokens.
    if (CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0)
      found = &entry;
  }
  if (found == nullptr) return std::nullopt;
  return found->source;
}

std::vector<std::string> SourceTokens::sources() const {
  std::set<std::string> names;
  for (const Entry& entry : entries_) names.insert(entry.source);
  return {names.begin(), names.end()};
}

}  // namespace civicpulse::ingest
