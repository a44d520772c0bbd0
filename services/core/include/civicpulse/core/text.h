// Small text helpers shared by the decoders (event codec, Open311, CSV): UTF-8 validation,
// quoting untrusted text for rejection details, and string concatenation that takes
// std::string_view (Debian's abseil has its own absl::string_view, which absl::StrCat wants).
//
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace civicpulse::core::text {

// Well-formed UTF-8 per RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF. Checks eight ASCII bytes at a time.
bool IsValidUtf8(std::string_view text);

inline absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

// JSON's insignificant whitespace (RFC 8259): space, tab, line feed, carriage return.
inline bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

template <typename T>
decltype(auto) Piece(const T& value) {
  if constexpr (std::is_convertible_v<const T&, std::string_view> && !std::is_arithmetic_v<T>) {
    return ToAbsl(std::string_view(value));
  } else {
    return (value);
  }
}

// absl::StrCat that also takes std::string_view.
template <typename... T>
std::string Cat(const T&... pieces) {
  return absl::StrCat(Piece(pieces)...);
}

// How a detail message refers to untrusted text: by its length, never its content (a
// rejected value may be a person's id in the wrong field or a shifted CSV cell, and details
// travel in DLQ headers and API responses). E.g. "(a value of 12 bytes)".
std::string Describe(std::string_view text);

}  // namespace civicpulse::core::text
