// JsonMembers: the one JSON handler shape of the core's decoders (EventCodec's JSON events,
// Open311Decoder's service requests). A decoder names the top-level members it reads in a
// field table; ReadJsonObject parses a value in place with RapidJSON's SAX reader into a
// JsonMembers of that table, and every problem of the JSON itself becomes the same rejection
// (event_codec.h) whichever decoder met it:
// - a NUL byte: invalid_json, "<subject> contains a NUL byte" (in-situ parsing stops at one);
// - with `validate_utf8`, bytes that are not UTF-8 anywhere in the value: invalid_utf8, and an
//   escaped lone surrogate ("\\udc00") in a kept string: invalid_json naming the member;
// - nesting deeper than `max_depth`: invalid_json, "JSON nested deeper than N"; the parse stops
//   there, so hostile nesting cannot exhaust the stack of RapidJSON's recursive parser;
// - a syntax error: invalid_json, RapidJSON's message and the byte offset (never input text);
// - a root that is not an object: not_an_object, "<subject> is a JSON <type>, not an object".
// Then the decoder reads its members: a repeated key keeps its last value, members nested in
// members are skipped (only the member's type is kept), numbers arrive as their JSON text
// (converted where a field needs a number, by the decoder), and a member of the wrong type is
// JsonWrongType's "<field>: must be <want>, got <type>".
//
// No DOM, no allocation once the caller's buffer is warm, and none of RapidJSON 1.1's internal
// stacks, whose first push does arithmetic on a null pointer (UBSan flags it). A flat object
// without escapes (nearly every event) is read by flat_json::ReadFlatJsonObject, which hands
// the handler exactly RapidJSON's calls (a quarter off EventCodec::Decode); anything else goes to
// RapidJSON (json_members_test and event_codec_fuzz compare the two).
//
// A field table is a type with
//   static constexpr int kCount;                        // members read
//   static constexpr std::array<std::string_view, kCount> kNames;
//   static int Find(std::string_view key);              // index, or kCount when not read
//
// Private to services/core. Thread-compatible. Does no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/core/text.h"
#include "rapidjson/error/en.h"
#include "rapidjson/reader.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace civicpulse::core {

// The type of a JSON value as a decoder sees it; kAbsent for a member not given.
enum class JsonType : uint8_t { kAbsent, kNull, kBool, kNumber, kString, kObject, kArray };

inline std::string_view JsonTypeName(JsonType type) {
  static constexpr std::string_view kNames[] = {"nothing", "null",   "boolean", "number",
                                                "string",  "object", "array"};
  return kNames[static_cast<int>(type)];
}

// One top-level member's value. `text` is a string's unescaped content or a number's JSON
// text; it points into the parse buffer.
struct JsonMember {
  JsonType type = JsonType::kAbsent;
  bool boolean = false;
  std::string_view text;

  // The same type, boolean and text (by content).
  friend bool operator==(const JsonMember&, const JsonMember&) = default;
};

// Absent and null are the same to every decoder: an optional member left out.
inline bool IsAbsent(const JsonMember& member) {
  return member.type == JsonType::kAbsent || member.type == JsonType::kNull;
}

inline absl::Status JsonWrongType(std::string_view field, std::string_view want, JsonType got) {
  return RejectionError(kReasonWrongType, field,
                        text::Cat(field, ": must be ", want, ", got ", JsonTypeName(got)));
}

// The SAX handler: records the root's type and the top-level members `Fields` names, skips
// everything nested, and stops the parse beyond max_depth.
template <typename Fields>
class JsonMembers {
 public:
  // `check_surrogates`: reject a kept string that unescapes to a lone surrogate (the value
  // itself was checked for UTF-8 before parsing; escapes are the only way in).
  JsonMembers(int max_depth, bool check_surrogates)
      : max_depth_(max_depth), check_surrogates_(check_surrogates) {}

  // Turns the lone-surrogate check off (for a value without a backslash, whose strings are
  // slices of the value itself: no escape, so no surrogate the UTF-8 check has not seen).
  void skip_surrogate_check() { check_surrogates_ = false; }

  JsonType root() const { return root_; }
  bool too_deep() const { return too_deep_; }
  // The member whose string escapes a lone surrogate, or Fields::kCount.
  int lone_surrogate() const { return lone_surrogate_; }
  const JsonMember& operator[](int field) const { return members_[field]; }

  // --- RapidJSON's SAX interface ---
  bool Null() { return Scalar(JsonType::kNull, {}, false); }
  bool Bool(bool b) { return Scalar(JsonType::kBool, {}, b); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return Scalar(JsonType::kNumber, {s, n}, false);
  }
  // Not called with kParseNumbersAsStringsFlag; an empty text never converts.
  bool Int(int) { return Scalar(JsonType::kNumber, {}, false); }
  bool Uint(unsigned) { return Scalar(JsonType::kNumber, {}, false); }
  bool Int64(int64_t) { return Scalar(JsonType::kNumber, {}, false); }
  bool Uint64(uint64_t) { return Scalar(JsonType::kNumber, {}, false); }
  bool Double(double) { return Scalar(JsonType::kNumber, {}, false); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    // The value was valid UTF-8, but an escaped lone low surrogate ("\\udc00", which RapidJSON
    // lets through) unescapes to the bytes ED B0 80, which are not. Surrogates are the only
    // UTF-8 starting with ED A0..BF, so only strings holding ED need a look.
    if (check_surrogates_ && Kept() && std::memchr(s, 0xED, n) != nullptr &&
        !text::IsValidUtf8({s, n})) {
      lone_surrogate_ = current_;
      return false;
    }
    return Scalar(JsonType::kString, {s, n}, false);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1) current_ = Fields::Find({s, n});
    return true;
  }
  bool StartObject() { return Open(JsonType::kObject); }
  bool EndObject(rapidjson::SizeType) {
    --depth_;
    return true;
  }
  bool StartArray() { return Open(JsonType::kArray); }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    return true;
  }

 private:
  // Whether a value here is kept: a member of the root object that Fields names.
  bool Kept() const {
    return depth_ == 1 && root_ == JsonType::kObject && current_ != Fields::kCount;
  }
  bool Scalar(JsonType type, std::string_view text, bool boolean) {
    if (depth_ == 0) {
      root_ = type;
    } else if (Kept()) {
      members_[current_] = JsonMember{type, boolean, text};
    }
    return true;
  }
  bool Open(JsonType type) {
    Scalar(type, {}, false);
    if (++depth_ <= max_depth_) return true;
    too_deep_ = true;
    return false;
  }

  int max_depth_;
  bool check_surrogates_;
  int depth_ = 0;
  bool too_deep_ = false;
  JsonType root_ = JsonType::kAbsent;
  int current_ = Fields::kCount;
  int lone_surrogate_ = Fields::kCount;
  std::array<JsonMember, Fields::kCount> members_;
};

struct JsonReadOptions {
  int max_depth = 16;
  // Check the whole value for UTF-8 up front (invalid_utf8) and kept strings for escaped
  // lone surrogates. Off: the decoder checks the members it reads itself.
  bool validate_utf8 = true;
  // What the value is called in rejection details ("value", "request").
  std::string_view subject = "value";
  // Read a flat object without escapes with ReadFlatJsonObject (the same members, faster);
  // off: always RapidJSON (tests compare the two).
  bool flat_fast_path = true;
};

// In-situ parsing (strings are unescaped inside the copied value), numbers as text.
inline constexpr unsigned kJsonParseFlags =
    rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag;

// Room kept past an in-situ buffer's terminator: with RAPIDJSON_SSE2 (CMakeLists.txt) the
// parser's scans load the whole aligned 16-byte block that holds the terminator.
inline constexpr size_t kInsituPadding = 16;

// What ReadJsonObject checks of a whole value before parsing it, found in one pass (16 bytes
// at a time with SSE2): where the value held a NUL byte, anything not ASCII, a backslash.
struct JsonValueBytes {
  bool nul = false;
  bool ascii = true;
  bool backslash = false;
};

inline JsonValueBytes ScanJsonValueBytes(std::string_view value) {
  JsonValueBytes bytes;
  const char* p = value.data();
  const size_t n = value.size();
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  const __m128i backslash = _mm_set1_epi8('\\');
  __m128i high = zero, nul = zero, escape = zero;
  for (; i + 16 <= n; i += 16) {
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    high = _mm_or_si128(high, s);
    nul = _mm_or_si128(nul, _mm_cmpeq_epi8(s, zero));
    escape = _mm_or_si128(escape, _mm_cmpeq_epi8(s, backslash));
  }
  bytes.ascii = _mm_movemask_epi8(high) == 0;
  bytes.nul = _mm_movemask_epi8(nul) != 0;
  bytes.backslash = _mm_movemask_epi8(escape) != 0;
#endif
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    bytes.ascii = bytes.ascii && c < 0x80;
    bytes.nul = bytes.nul || c == 0;
    bytes.backslash = bytes.backslash || c == '\\';
  }
  return bytes;
}

// The shape nearly every event and request has: one flat object whose members are strings
// without escapes, plain numbers (no exponent, at most 15 integer digits), true, false or
// null. ReadFlatJsonObject reads a value of that shape in one tight pass and hands `members`
// exactly the calls RapidJSON's reader would (StartObject, then Key and the value's call per
// member in order, then EndObject), so the decoders see the same members either way. A value
// of any other shape, or a broken one, is left untouched for RapidJSON to parse (it then
// reports the error). The value is `text` (`size` bytes, NUL-terminated, with
// kInsituPadding bytes of room past the NUL).
namespace flat_json {

struct Token {
  enum Kind : uint8_t { kString, kNumber, kTrue, kFalse, kNull };
  Kind kind;
  uint32_t key_begin, key_size, begin, size;
};
// Members read in one pass; a value with more is left to RapidJSON.
inline constexpr size_t kMaxMembers = 64;

inline bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Advances *i past a string's closing quote; false for an escape or a control character
// (or the terminator), which RapidJSON must see.
inline bool SkipString(const char* text, size_t* i) {
  size_t j = *i;
#if defined(__SSE2__)
  // Unaligned 16-byte loads stop at the first quote, backslash or byte below 0x20 (the
  // terminator is one), so they never reach past the padding.
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1F);
  for (;;) {
    const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + j));
    // Bytes >= 0x80 are signed negatives: compare unsigned via max.
    const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(s, below_space), below_space);
    const int stop = _mm_movemask_epi8(_mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(s, quote), _mm_cmpeq_epi8(s, backslash)), control));
    if (stop != 0) {
      j += static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(stop)));
      break;
    }
    j += 16;
  }
#else
  while (text[j] != '"' && text[j] != '\\' && static_cast<unsigned char>(text[j]) >= 0x20) ++j;
#endif
  if (text[j] != '"') return false;
  *i = j + 1;
  return true;
}

// Advances *i past a number of the plain shape: -?(0|[1-9][0-9]{0,14})(\.[0-9]{1,32})?
inline bool SkipNumber(const char* text, size_t* i) {
  size_t j = *i;
  if (text[j] == '-') ++j;
  if (text[j] == '0') {
    ++j;
  } else if (text[j] >= '1' && text[j] <= '9') {
    const size_t first = j;
    while (IsDigit(text[j])) ++j;
    if (j - first > 15) return false;
  } else {
    return false;
  }
  if (text[j] == '.') {
    const size_t first = ++j;
    while (IsDigit(text[j])) ++j;
    if (j == first || j - first > 32) return false;
  }
  if (text[j] == 'e' || text[j] == 'E') return false;
  *i = j;
  return true;
}

// Stops at the first byte that differs, at the latest the terminator (no literal holds NUL).
inline bool SkipLiteral(const char* text, size_t* i, std::string_view literal) {
  for (size_t k = 0; k < literal.size(); ++k) {
    if (text[*i + k] != literal[k]) return false;
  }
  *i += literal.size();
  return true;
}

template <typename Fields>
bool ReadFlatJsonObject(const char* text, size_t size, JsonMembers<Fields>* members) {
  std::array<Token, kMaxMembers> tokens;
  size_t count = 0;
  size_t i = 0;
  while (IsSpace(text[i])) ++i;
  if (text[i] != '{') return false;
  ++i;
  while (IsSpace(text[i])) ++i;
  if (text[i] == '}') {
    ++i;
  } else {
    for (;;) {
      if (text[i] != '"' || count == kMaxMembers) return false;
      Token& token = tokens[count++];
      token.key_begin = static_cast<uint32_t>(++i);
      if (!SkipString(text, &i)) return false;
      token.key_size = static_cast<uint32_t>(i - 1 - token.key_begin);
      while (IsSpace(text[i])) ++i;
      if (text[i] != ':') return false;
      ++i;
      while (IsSpace(text[i])) ++i;
      const char c = text[i];
      if (c == '"') {
        token.kind = Token::kString;
        token.begin = static_cast<uint32_t>(++i);
        if (!SkipString(text, &i)) return false;
        token.size = static_cast<uint32_t>(i - 1 - token.begin);
      } else {
        token.begin = static_cast<uint32_t>(i);
        if (c == 't') {
          token.kind = Token::kTrue;
          if (!SkipLiteral(text, &i, "true")) return false;
        } else if (c == 'f') {
          token.kind = Token::kFalse;
          if (!SkipLiteral(text, &i, "false")) return false;
        } else if (c == 'n') {
          token.kind = Token::kNull;
          if (!SkipLiteral(text, &i, "null")) return false;
        } else {
          token.kind = Token::kNumber;
          if (!SkipNumber(text, &i)) return false;
        }
        token.size = static_cast<uint32_t>(i - token.begin);
      }
      while (IsSpace(text[i])) ++i;
      if (text[i] == '}') {
        ++i;
        break;
      }
      if (text[i] != ',') return false;
      ++i;
      while (IsSpace(text[i])) ++i;
    }
  }
  while (IsSpace(text[i])) ++i;
  if (i != size) return false;

  // The value has the shape: the same calls RapidJSON's reader makes. None can fail: the
  // object is one level deep (the caller checked max_depth >= 1) and holds no escape.
  members->StartObject();
  for (size_t t = 0; t < count; ++t) {
    const Token& token = tokens[t];
    members->Key(text + token.key_begin, token.key_size, false);
    const char* begin = text + token.begin;
    switch (token.kind) {
      case Token::kString:
        members->String(begin, token.size, false);
        break;
      case Token::kNumber:
        members->RawNumber(begin, token.size, false);
        break;
      case Token::kTrue:
        members->Bool(true);
        break;
      case Token::kFalse:
        members->Bool(false);
        break;
      case Token::kNull:
        members->Null();
        break;
    }
  }
  members->EndObject(static_cast<rapidjson::SizeType>(count));
  return true;
}

}  // namespace flat_json

// Parses `value`, a JSON object, into *members (constructed by the caller with the same
// max_depth and validate_utf8), copying it into *buffer (reused between calls: once its
// capacity suffices nothing is allocated). The members' texts point into *buffer.
template <typename Fields>
absl::Status ReadJsonObject(std::string_view value, const JsonReadOptions& options,
                            std::string* buffer, rapidjson::Reader* reader,
                            JsonMembers<Fields>* members) {
  using text::Cat;
  const JsonValueBytes bytes = ScanJsonValueBytes(value);
  if (bytes.nul) {
    return RejectionError(kReasonInvalidJson, "", Cat(options.subject, " contains a NUL byte"));
  }
  // 3x faster than RapidJSON's per-character kParseValidateEncodingFlag, and it covers the
  // same strings. ASCII is UTF-8.
  if (options.validate_utf8 && !bytes.ascii && !text::IsValidUtf8(value)) {
    return RejectionError(kReasonInvalidUtf8, "", Cat(options.subject, " is not UTF-8"));
  }
  if (!bytes.backslash) members->skip_surrogate_check();
  if (buffer->capacity() < value.size() + kInsituPadding) {
    buffer->reserve(value.size() + kInsituPadding);
  }
  buffer->assign(value.data(), value.size());
  if (options.flat_fast_path && !bytes.backslash && options.max_depth >= 1 &&
      flat_json::ReadFlatJsonObject(buffer->data(), buffer->size(), members)) {
    return absl::OkStatus();
  }
  rapidjson::InsituStringStream stream(buffer->data());
  const rapidjson::ParseResult result = reader->Parse<kJsonParseFlags>(stream, *members);
  if (result.IsError()) {
    if (members->too_deep()) {
      return RejectionError(kReasonInvalidJson, "",
                            Cat("JSON nested deeper than ", options.max_depth));
    }
    if (const int field = members->lone_surrogate(); field != Fields::kCount) {
      const std::string_view name = Fields::kNames[field];
      return RejectionError(kReasonInvalidJson, name,
                            Cat(name, ": escapes a lone UTF-16 surrogate"));
    }
    return RejectionError(
        kReasonInvalidJson, "",
        Cat(rapidjson::GetParseError_En(result.Code()), " at byte ", result.Offset()));
  }
  if (members->root() != JsonType::kObject) {
    return RejectionError(
        kReasonNotAnObject, "",
        Cat(options.subject, " is a JSON ", JsonTypeName(members->root()), ", not an object"));
  }
  return absl::OkStatus();
}

}  // namespace civicpulse::core
