// civicpulse-simulator as a real process (the binary built beside this test).
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "civicpulse/core/event.h"
#include "civicpulse/core/event_codec.h"
#include "civicpulse/kafka/consumer.h"
#include "civicpulse/kafka/embedded_broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "child_process.h"

namespace civicpulse {
namespace {

using ::testing::HasSubstr;

using civicpulse::testing::ChildProcess;

// A civicpulse-simulator process.
class Simulator : public ChildProcess {
 public:
  explicit Simulator(std::vector<std::string> args)
      : ChildProcess(CIVICPULSE_SIMULATOR_BIN, std::move(args)) {}
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return lines;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

const std::vector<std::string> kReplay = {"--output", "stdout", "--count", "1000",
                                          "--seed", "7", "--history", "1d",
                                          "--end", "2026-01-01T00:00:00Z",
                                          "--listen", "127.0.0.1:0"};

TEST(SimulatorTest, SameSeedSameOutputAndEveryLineIsAValidEvent) {
  Simulator first(kReplay);
  Simulator second(kReplay);
  ASSERT_EQ(first.Wait(), 0) << first.err();
  ASSERT_EQ(second.Wait(), 0) << second.err();
  const std::string output = first.out();
  EXPECT_EQ(output, second.out());

  const std::vector<std::string> lines = Lines(output);
  ASSERT_EQ(lines.size(), 1000u);
  core::EventCodec codec;
  core::Event event;
  int64_t last = 0;
  for (const std::string& line : lines) {
    absl::Status status = codec.Decode(line, core::Encoding::kJson, NowMs(), &event);
    ASSERT_TRUE(status.ok()) << status << ": " << line;
    EXPECT_GE(event.occurred_at_ms, last);
    EXPECT_LT(event.occurred_at_ms, 1767225600000);  // before --end
    last = event.occurred_at_ms;
  }
  EXPECT_THAT(lines.front(), HasSubstr("\"event_id\":\"sim-7-"));

  std::vector<std::string> other_seed = kReplay;
  other_seed[5] = "8";
  Simulator third(other_seed);
  ASSERT_EQ(third.Wait(), 0) << third.err();
  EXPECT_NE(third.out(), output);
}

TEST(SimulatorTest, BadFlagsExitTwoWithOneLine) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--output", "stdout", "--rate", "-1"},
                                             {"--output", "stdout", "--no-such-flag"},
                                             {"--output", "stdout", "--history", "28x"},
                                             {"--output", "stdout", "--drop", "W99:recycling:now:1h:0.5"},
                                             {"--output", "printer"},
                                             {"--output", "kafka"}}) {
    Simulator sim(args);
    EXPECT_EQ(sim.Wait(), 2) << args.back();
    EXPECT_EQ(Lines(sim.err()).size(), 1u) << sim.err();
    EXPECT_EQ(sim.out(), "");
  }
}

TEST(SimulatorTest, UnreachableBrokerExitsOneWithOneLine) {
  Simulator sim({"--brokers", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--count", "1"});
  EXPECT_EQ(sim.Wait(), 1);
  const std::vector<std::string> lines = Lines(sim.err());
  ASSERT_EQ(lines.size(), 1u) << sim.err();
  EXPECT_THAT(lines[0], HasSubstr("cannot reach Kafka at 127.0.0.1:1"));
}

TEST(SimulatorTest, RealTimeUntilSigtermThenFlushesAndExitsZero) {
  const int port = FreePort();
  Simulator sim({"--output", "stdout", "--rate", "200", "--history", "10m", "--listen",
                 "127.0.0.1:" + std::to_string(port)});
  httplib::Client client("127.0.0.1", port);
  std::string metrics;
  for (int i = 0; i < 200; ++i) {
    auto response = client.Get("/metrics");
    if (response && response->status == 200 &&
        response->body.find("civicpulse_simulator_history_complete 1") != std::string::npos &&
        Lines(sim.out()).size() > 200) {
      metrics = response->body;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(metrics, HasSubstr("civicpulse_simulator_events_total{kind=\"recycling\"}"));
  EXPECT_THAT(metrics, HasSubstr("process_cpu_seconds_total"));
  sim.Signal(SIGTERM);
  EXPECT_EQ(sim.Wait(), 0) << sim.err();
  const int64_t now = NowMs();
  core::EventCodec codec({.max_future_ms = 0});
  core::Event event;
  const std::vector<std::string> lines = Lines(sim.out());
  ASSERT_GT(lines.size(), 200u);
  for (const std::string& line : lines) {
    // Complete lines only (flushed on exit), and no event time ahead of the clock.
    absl::Status status = codec.Decode(line, core::Encoding::kJson, now, &event);
    ASSERT_TRUE(status.ok()) << status << ": " << line;
  }
}

// Reads `n` records of the events topic from the start.
std::vector<std::tuple<std::string, std::string, std::string>> Consume(
    const std::string& brokers, size_t n) {
  std::vector<std::tuple<std::string, std::string, std::string>> records;
  auto consumer = kafka::Consumer::Create({.brokers = brokers},
                                          {.topics = {"civicpulse.events.v1"}});
  EXPECT_TRUE(consumer.ok()) << consumer.status();
  if (!consumer.ok()) return records;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (records.size() < n && absl::Now() < deadline) {
    auto batch = (*consumer)->Poll(absl::Milliseconds(200));
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) break;
    for (const kafka::ConsumerRecord& r : **batch) {
      records.emplace_back(std::string(r.key), std::string(r.value),
                           std::string(r.Header("content-type").value_or("")));
    }
  }
  (*consumer)->Close();
  return records;
}

TEST(SimulatorTest, ProducesKeyedJsonAndProtobufToKafka) {
  auto broker = kafka::EmbeddedBroker::Start({.partitions = 4,
                                              .topics = {"civicpulse.events.v1"}});
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string brokers = (*broker)->bootstrap_servers();
  {
    Simulator json({"--brokers", brokers, "--listen", "127.0.0.1:0", "--count", "300",
                    "--history", "2h"});
    ASSERT_EQ(json.Wait(), 0) << json.err();
    Simulator proto({"--brokers", brokers, "--listen", "127.0.0.1:0", "--count", "100",
                     "--history", "2h", "--format", "protobuf", "--seed", "3"});
    ASSERT_EQ(proto.Wait(), 0) << proto.err();
  }
  const auto records = Consume(brokers, 400);
  ASSERT_EQ(records.size(), 400u);
  core::EventCodec codec;
  core::Event event;
  int json = 0;
  int protobuf = 0;
  for (const auto& [key, value, content_type] : records) {
    const bool is_json = content_type == "application/json";
    absl::Status status = codec.Decode(
        value, is_json ? core::Encoding::kJson : core::Encoding::kProtobuf, NowMs(), &event);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(key, event.area);
    (is_json ? json : protobuf)++;
  }
  EXPECT_EQ(json, 300);
  EXPECT_EQ(protobuf, 100);
}

}  // namespace
}  // namespace civicpulse
