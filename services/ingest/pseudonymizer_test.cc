#include "pseudonymizer.h"

#include "gtest/gtest.h"

namespace civicpulse::ingest {
namespace {

TEST(PseudonymizerTest, MatchesRfc4231AndIsStablePerSourceAndId) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(Pseudonymizer("Jefe").Hmac("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const Pseudonymizer p("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(p.Pseudonym("what do ya want for nothing", "?"),
            p.Hmac("what do ya want for nothing:?"));
  const std::string a = p.Pseudonym("nw-app", "p-81");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, p.Pseudonym("nw-app", "p-81"));
  EXPECT_NE(a, p.Pseudonym("nw-app", "p-82"));
  EXPECT_NE(a, p.Pseudonym("council", "p-81"));
  EXPECT_NE(
      a, Pseudonymizer("another key of sixteen+").Pseudonym("nw-app", "p-81"));
  EXPECT_EQ(a.find("p-81"), std::string::npos);
}

TEST(PseudonymizerTest, RandomKeysDiffer) {
  const std::string a = Pseudonymizer::RandomKey();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, Pseudonymizer::RandomKey());
}

}  // namespace
}  // namespace civicpulse::ingest
