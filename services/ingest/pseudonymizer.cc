#include "pseudonymizer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <iostream>

namespace civicpulse::ingest {

Pseudonymizer::Pseudonymizer(std::string key) : key_(std::move(key)) {}

std::string Pseudonymizer::Hmac(std::string_view message) const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // One-shot HMAC keeps no state between calls: safe from many threads at once.
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), digest, &length) == nullptr) {
    // Only a broken OpenSSL gets here; a raw id must never be used instead.
    std::cerr << "civicpulse-ingest: HMAC-SHA256 failed" << std::endl;
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * length, '0');
  for (unsigned int i = 0; i < length; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return out;
}

std::string Pseudonymizer::Pseudonym(std::string_view source,
                                     std::string_view id) const {
  std::string message;
  message.reserve(source.size() + 1 + id.size());
  message.append(source).push_back(':');
  message.append(id);
  return Hmac(message);
}

std::string Pseudonymizer::RandomKey() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()),
                 static_cast<int>(key.size())) != 1) {
    std::cerr << "civicpulse-ingest: no random bytes from OpenSSL" << std::endl;
    std::abort();
  }
  return key;
}

}  // namespace civicpulse::ingest
