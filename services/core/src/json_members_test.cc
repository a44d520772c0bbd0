// ReadJsonObject's fast path (flat_json::ReadFlatJsonObject) against RapidJSON's reader: for
// every value it reads, the members must be exactly those RapidJSON's reader gives, and a value
// it does not read must be left to RapidJSON (which then accepts or rejects it as before).
#include "json_members.h"

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::core {
namespace {

struct TestFields {
  static constexpr int kCount = 5;
  static constexpr std::array<std::string_view, kCount> kNames = {"id", "n", "b", "s", "deep"};
  static int Find(std::string_view key) {
    for (int i = 0; i < kCount; ++i) {
      if (kNames[i] == key) return i;
    }
    return kCount;
  }
};
using Members = JsonMembers<TestFields>;

// What a read produced: the status, and the root and members when it succeeded (their
// texts point into the buffer the read used).
struct Read {
  absl::Status status;
  JsonType root = JsonType::kAbsent;
  std::array<JsonMember, TestFields::kCount> members;

  friend bool operator==(const Read&, const Read&) = default;
};

// Reads `value` as the decoders do, parsing in `buffer`.
Read ReadWith(std::string_view value, bool fast, std::string* buffer) {
  Members members(/*max_depth=*/4, /*check_surrogates=*/true);
  rapidjson::Reader reader;
  Read read;
  read.status =
      ReadJsonObject(value, {.max_depth = 4, .flat_fast_path = fast}, buffer, &reader, &members);
  if (!read.status.ok()) return read;
  read.root = members.root();
  for (int i = 0; i < TestFields::kCount; ++i) read.members[i] = members[i];
  return read;
}

// Whether the fast path alone reads `value`.
bool FastPathReads(std::string_view value) {
  std::string buffer;
  buffer.reserve(value.size() + kInsituPadding);
  buffer.assign(value);
  Members members(4, true);
  return flat_json::ReadFlatJsonObject(buffer.data(), buffer.size(), &members);
}

void ExpectSameAsRapidJson(std::string_view value) {
  std::string fast_buffer, slow_buffer;
  const Read fast = ReadWith(value, true, &fast_buffer);
  const Read slow = ReadWith(value, false, &slow_buffer);
  EXPECT_TRUE(fast == slow) << "value: " << value << "\nfast: " << fast.status
                            << "\nRapidJSON: " << slow.status;
}

TEST(FlatJsonTest, ReadsTheFlatShapeAsRapidJsonDoes) {
  for (std::string_view value : {
           R"({"id":"e-1","n":12.5,"b":true,"s":null,"other":"x"})",
           R"(  { "id" : "e-1" , "n" : -0 , "b" : false }  )",
           "{\n\t\"id\":\"Süd ✓\",\r\n\"n\":0.000001}\n",
           R"({})",
           R"({ })",
           R"({"id":"a","id":"b"})",  // the last of a repeated key
           R"({"n":123456789012345})",
           R"({"":""})",
       }) {
    EXPECT_TRUE(FastPathReads(value)) << value;
    ExpectSameAsRapidJson(value);
  }
}

TEST(FlatJsonTest, LeavesEveryOtherShapeToRapidJson) {
  for (std::string_view value : {
           R"({"id":"a\"b"})",           // an escape
           R"({"n":1e5})",               // an exponent
           R"({"n":1234567890123456})",  // 16 integer digits
           R"({"n":01})",                // a leading zero
           R"({"n":1.})",                // a fraction without digits
           R"({"n":-})",                 // a sign alone
           R"({"n":+1})",                // a plus sign
           R"({"deep":{"a":1}})",        // nesting
           R"({"deep":[1]})",            //
           R"({"b":tru})",               // a broken literal
           R"({"b":truex})",             //
           R"({"id":"a",})",             // a trailing comma
           R"({"id" "a"})",              // no colon
           R"({"id":"a"} x)",            // something after the root
           R"({"id":"a"}{"id":"b"})",    //
           R"([1,2])",                   // not an object
           R"("x")",                     //
           "",                           // nothing
           R"({"id":"a)",                // cut short
           R"({"id":)",                  //
           "{\"id\":\"a\x01\"}",         // a control character in a string
           R"({'id':'a'})",              // not JSON
       }) {
    EXPECT_FALSE(FastPathReads(value)) << value;
    ExpectSameAsRapidJson(value);
  }
  // More members than the fast path holds.
  std::string many = "{";
  for (size_t i = 0; i <= flat_json::kMaxMembers; ++i)
    many += (i ? ",\"k\":" : "\"k\":") + std::to_string(i);
  many += "}";
  EXPECT_FALSE(FastPathReads(many));
  ExpectSameAsRapidJson(many);
}

// Random flat objects, then random damage to them: whatever the fast path reads must read as
// RapidJSON reads it, and every value must end the same through ReadJsonObject either way.
TEST(FlatJsonTest, RandomValuesReadAsRapidJsonReadsThem) {
  std::mt19937_64 rng(20261204);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::vector<std::string> keys = {"id", "n", "b", "s", "deep", "other", "", "idd", "ü"};
  const std::vector<std::string> values = {R"("e-1")",
                                           R"("")",
                                           R"("Zürich-Süd")",
                                           R"("a\"b")",
                                           R"("\u00fc")",
                                           R"("\udc00")",
                                           "0",
                                           "-0",
                                           "7",
                                           "-12.25",
                                           "123456789012345",
                                           "1234567890123456",
                                           "1e3",
                                           "1.5E-2",
                                           "01",
                                           "1.",
                                           "-",
                                           ".5",
                                           "true",
                                           "false",
                                           "null",
                                           "tru",
                                           "nul",
                                           "{}",
                                           R"({"a":[1,{}]})",
                                           "[]",
                                           "[1,2]"};
  const std::string spaces[] = {"", " ", "\n", "\t ", "\r\n"};
  const std::string junk = "{}[]\":,\\ 0a\x01\xff";
  int fast = 0;
  constexpr int kCases = 20000;
  for (int c = 0; c < kCases; ++c) {
    std::string value = spaces[pick(5)] + "{";
    const size_t members = pick(7);
    for (size_t m = 0; m < members; ++m) {
      if (m > 0) value += spaces[pick(5)] + "," + spaces[pick(5)];
      value += "\"" + keys[pick(keys.size())] + "\"" + spaces[pick(5)] + ":" + spaces[pick(5)] +
               values[pick(values.size())];
    }
    value += spaces[pick(5)] + "}" + spaces[pick(5)];
    // Half of them damaged: a byte changed, inserted or removed, or the value cut short.
    if (pick(2) == 0 && !value.empty()) {
      const size_t at = pick(value.size());
      switch (pick(4)) {
        case 0:
          value[at] = junk[pick(junk.size())];
          break;
        case 1:
          value.insert(at, 1, junk[pick(junk.size())]);
          break;
        case 2:
          value.erase(at, 1);
          break;
        default:
          value.resize(at);
      }
    }
    if (FastPathReads(value)) ++fast;
    ExpectSameAsRapidJson(value);
    if (testing::Test::HasFailure()) break;
  }
  // The fast path must have been tried on a good share of them, or this compared nothing.
  EXPECT_GT(fast, kCases / 10);
}

}  // namespace
}  // namespace civicpulse::core
