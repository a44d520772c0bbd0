// Pseudonymizer: replaces participant ids by keyed hashes before anything
// leaves the gateway, so that Kafka, logs and metrics never see a raw id while
// the same person still maps to the same pseudonym (distinct counts stay
// exact).
//
// Pseudonym(source, id) = lowercase hex of HMAC-SHA256(key, source ":" id): 64
// characters. Source names cannot contain ':' (SourceTokens enforces it), so
// the input is unambiguous, and the same id from two sources gives two
// pseudonyms (ids are only unique per source). Without the key a pseudonym
// cannot be reversed or recomputed, even for guessable ids.
//
// Immutable after construction; thread-safe. Does no I/O (the key is read by
// the config).
#pragma once

#include <string>
#include <string_view>

namespace civicpulse::ingest {

class Pseudonymizer {
 public:
  // `key`: the secret, at least kMinKeyBytes bytes.
  explicit Pseudonymizer(std::string key);

  std::string Pseudonym(std::string_view source, std::string_view id) const;
  // Lowercase hex HMAC-SHA256(key, message): for other derived ids (see
  // batch.h).
  std::string Hmac(std::string_view message) const;

  // 32 bytes from OpenSSL's CSPRNG, for --demo.
  static std::string RandomKey();

  static constexpr size_t kMinKeyBytes = 16;

 private:
  std::string key_;
};

}  // namespace civicpulse::ingest
