#include "civicpulse/core/text.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/escaping.h"

namespace civicpulse::core::text {

// Well-formed UTF-8 per RFC 3629 (no overlong forms, no surrogates, nothing above U+10FFFF),
// eight ASCII bytes at a time.
bool IsValidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  auto continuation = [s](size_t i) { return (s[i] & 0xC0) == 0x80; };
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, s + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The allowed range of the second byte depends on the first; the rest are 80..BF.
    size_t length;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (n - i < length || s[i + 1] < low || s[i + 1] > high) return false;
    for (size_t k = 2; k < length; ++k) {
      if (!continuation(i + k)) return false;
    }
    i += length;
  }
  return true;
}

std::string Describe(std::string_view text) {
  return Cat("(a value of ", text.size(), text.size() == 1 ? " byte)" : " bytes)");
}

}  // namespace civicpulse::core::text
