#include "config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace civicpulse::ingest {
namespace {

using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() {
    char dir[] = "/tmp/civicpulse-ingest-config-test.XXXXXX";
    dir_ = mkdtemp(dir);
    unsetenv("CIVICPULSE_BROKERS");
  }
  ~ConfigTest() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  absl::Status Parse(std::vector<std::string> args, IngestConfig* config) {
    CLI::App app;
    config->AddFlags(&app);
    args.insert(args.begin(), "civicpulse-ingest");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    EXPECT_EQ(
        runtime::ParseOrExit(&app, static_cast<int>(argv.size()), argv.data()),
        -1);
    return config->Finish();
  }

  std::string dir_;
};

TEST_F(ConfigTest, AKeyIsRequiredUnlessDemo) {
  IngestConfig config;
  absl::Status s = Parse({"--brokers", "k:9092"}, &config);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("--pseudonym-key-file is required"));
  IngestConfig demo;
  ASSERT_TRUE(Parse({"--brokers", "k:9092", "--demo"}, &demo).ok());
  EXPECT_TRUE(demo.generated_key);
  EXPECT_EQ(demo.pseudonym_key.size(), 32u);
  IngestConfig short_key;
  s = Parse(
      {"--brokers", "k:9092", "--pseudonym-key-file", Write("key", "short\n")},
      &short_key);
  EXPECT_THAT(std::string(s.message()), HasSubstr("at least 16 bytes"));
  IngestConfig good;
  ASSERT_TRUE(Parse({"--brokers", "k:9092", "--pseudonym-key-file",
                     Write("key2", "0123456789abcdef0123\n")},
                    &good)
                  .ok());
  EXPECT_EQ(good.pseudonym_key, "0123456789abcdef0123");
}

TEST_F(ConfigTest, WithoutTokensTheApiStaysOnLoopback) {
  IngestConfig defaulted;
  ASSERT_TRUE(Parse({"--brokers", "k:9092", "--demo"}, &defaulted).ok());
  EXPECT_EQ(defaulted.common.listen, "127.0.0.1:8080");
  EXPECT_TRUE(defaulted.listen_defaulted_to_loopback);
  IngestConfig exposed;
  absl::Status s = Parse(
      {"--brokers", "k:9092", "--demo", "--listen", "0.0.0.0:9000"}, &exposed);
  EXPECT_THAT(std::string(s.message()), HasSubstr("loopback only"));
  IngestConfig local;
  ASSERT_TRUE(
      Parse({"--brokers", "k:9092", "--demo", "--listen", "127.0.0.1:0"},
            &local)
          .ok());
  IngestConfig with_tokens;
  ASSERT_TRUE(Parse({"--brokers", "k:9092", "--demo", "--tokens-file",
                     Write("tokens", "app token-0123456789abcdef\n")},
                    &with_tokens)
                  .ok());
  EXPECT_EQ(with_tokens.common.listen, "0.0.0.0:8080");
  ASSERT_TRUE(with_tokens.tokens.has_value());
}

// The issue: a `127.` prefix of the host string counted as loopback.
TEST(LoopbackTest, DecidedOnTheResolvedAddress) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("127.example.invalid"));  // a name, not 127.0.0.0/8
  EXPECT_FALSE(IsLoopbackHost("127.0.0.1.invalid"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost(""));
}

TEST_F(ConfigTest, AreasFileIsReadByTheOneParser) {
  IngestConfig config;
  ASSERT_TRUE(Parse({"--brokers", "k:9092", "--demo", "--areas-file",
                     Write("areas.csv", "area,residents\nW01,100\nW02\n")},
                    &config)
                  .ok());
  ASSERT_TRUE(config.areas.has_value());
  EXPECT_EQ(config.areas->areas, (std::vector<std::string>{"W01", "W02"}));
  IngestConfig bad;
  EXPECT_FALSE(Parse({"--brokers", "k:9092", "--demo", "--areas-file",
                      Write("bad.csv", "alice@example.org,1\n")},
                     &bad)
                   .ok());
}

TEST_F(ConfigTest, Open311MappingAndTimeZones) {
  IngestConfig config;
  ASSERT_TRUE(
      Parse({"--brokers", "k:9092", "--demo", "--time-zone", "+05:30",
             "--open311-config",
             Write("o.json", R"({"time_zone": "America/Los_Angeles"})")},
            &config)
          .ok());
  ASSERT_TRUE(config.open311.has_value());
  EXPECT_EQ(config.open311->time_zone.name(), "America/Los_Angeles");
  IngestConfig bad;
  absl::Status s = Parse({"--brokers", "k:9092", "--demo", "--open311-config",
                          Write("b.json", R"({"time_zone": "Mars/Olympus"})")},
                         &bad);
  EXPECT_THAT(std::string(s.message()), HasSubstr("unknown time zone"));
  IngestConfig bad_timeout;
  s = Parse({"--brokers", "k:9092", "--demo", "--produce-timeout", "soon"},
            &bad_timeout);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--produce-timeout"));
}

}  // namespace
}  // namespace civicpulse::ingest
