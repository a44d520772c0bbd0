// HttpServer over real sockets on port 0: the routes, and the hostile clients of
// docs/threat-model.md (idle and slow connections, bodies refused before they are read).
#include "civicpulse/runtime/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace civicpulse::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A raw TCP client (the attacks need control over every byte).
class RawClient {
 public:
  explicit RawClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv = {.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawClient() { close(fd_); }
  bool connected() const { return connected_; }
  // False once the server has closed the connection.
  bool Send(const std::string& data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Everything until the server closes (or 10 s pass).
  std::string ReadAll() {
    std::string out;
    char buffer[4096];
    for (;;) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return out;
      out.append(buffer, static_cast<size_t>(n));
    }
  }
  // True when the server closed the connection within `seconds` (reads and drops data).
  bool ClosedWithin(double seconds) {
    const auto start = Clock::now();
    char buffer[4096];
    while (SecondsSince(start) < seconds) {
      timeval tv = {.tv_sec = 0, .tv_usec = 100000};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
    }
    return false;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// GET /healthz on a fresh connection: the status line, or "" on failure.
std::string HealthStatusLine(int port) {
  RawClient client(port);
  if (!client.connected()) return "";
  client.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string response = client.ReadAll();
  return response.substr(0, response.find("\r\n"));
}

TEST(HttpServerTest, ServesMetricsHealthAndHandlers) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("civicpulse_test_total").Help("t").Register(*registry).Add({})
      .Increment(3);
  HttpServer server({.max_body_bytes = 16});
  server.ServeMetrics(registry);
  std::atomic<bool> healthy = true;
  server.ServeHealth([&] { return Health{healthy, "kafka unreachable"}; });
  server.Post("/echo", [](const HttpRequest& request, HttpResponse* response) {
    response->status = 202;
    response->body = request.body + request.header("X-Test");
    if (auto it = request.params.find("q"); it != request.params.end()) {
      response->body += it->second;
    }
  });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  ASSERT_GT(server.port(), 0);

  httplib::Client client("127.0.0.1", server.port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->body, HasSubstr("civicpulse_test_total 3"));
  EXPECT_THAT(metrics->body, HasSubstr("process_resident_memory_bytes"));
  EXPECT_THAT(metrics->body, HasSubstr("process_cpu_seconds_total"));
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));

  EXPECT_EQ(client.Get("/healthz")->status, 200);
  healthy = false;
  auto unhealthy = client.Get("/healthz");
  EXPECT_EQ(unhealthy->status, 503);
  EXPECT_THAT(unhealthy->body, HasSubstr("kafka unreachable"));

  auto echo = client.Post("/echo?q=%3F", httplib::Headers{{"X-Test", "!"}}, "hi", "text/plain");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->status, 202);
  EXPECT_EQ(echo->body, "hi!?");
  auto too_big = client.Post("/echo", std::string(64, 'x'), "text/plain");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  httplib::Client other("127.0.0.1", server.port());
  EXPECT_EQ(other.Get("/nothing")->status, 404);
  EXPECT_EQ(other.Get("/echo")->status, 405);
  server.Stop();
}

TEST(HttpServerTest, StopRightAfterStartReturns) {
  for (int i = 0; i < 200; ++i) {
    HttpServer server;
    ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
    server.Stop();
  }
}

TEST(HttpServerTest, RefusesABadListenAddress) {
  HttpServer server;
  EXPECT_FALSE(server.Start("nonsense").ok());
}

TEST(HttpServerTest, StopFinishesTheRequestsInFlight) {
  HttpServer server;
  server.Post("/slow", [](const HttpRequest&, HttpResponse* response) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    response->body = "done";
  });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  RawClient client(server.port());
  client.Send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.Stop();
  EXPECT_THAT(client.ReadAll(), HasSubstr("done"));
}

// Many clients at once through the event threads and the worker pool (what the TSan suite
// exercises): every request answered, in order per connection.
TEST(HttpServerTest, ConcurrentClientsAreAllServed) {
  HttpServer server({.worker_threads = 4, .event_threads = 2});
  std::atomic<int> calls = 0;
  server.Post("/count", [&](const HttpRequest& request, HttpResponse* response) {
    ++calls;
    response->body = request.body;
  });
  server.ServeHealth([] { return Health{}; });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  std::vector<std::thread> clients;
  std::atomic<int> ok = 0;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", server.port());
      for (int i = 0; i < 25; ++i) {
        const std::string body = std::to_string(c * 100 + i);
        auto posted = client.Post("/count", body, "text/plain");
        if (posted && posted->status == 200 && posted->body == body) ++ok;
        auto health = client.Get("/healthz");
        if (health && health->status == 200) ++ok;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok, 8 * 25 * 2);
  EXPECT_EQ(calls, 8 * 25);
  server.Stop();
}

// The attack of the issue: 600 idle connections took every worker of the old
// thread-per-connection server, and /healthz timed out.
TEST(HttpServerTest, ThousandIdleConnectionsDoNotDelayOthers) {
  HttpServer server;
  server.ServeHealth([] { return Health{}; });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.push_back(std::make_unique<RawClient>(server.port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  const auto start = Clock::now();
  EXPECT_EQ(HealthStatusLine(server.port()), "HTTP/1.1 200 OK");
  EXPECT_LT(SecondsSince(start), 1.0);
}

// 32 clients sending one header byte every 0.5 s: the header deadline (2 s here) closes
// them although each byte arrives well within any idle timeout, and others are served.
TEST(HttpServerTest, SlowHeadersAreClosedAtTheHeaderDeadline) {
  HttpServer server({.header_timeout_seconds = 2, .body_timeout_seconds = 2});
  server.ServeHealth([] { return Health{}; });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 32; ++i) {
    slow.push_back(std::make_unique<RawClient>(server.port()));
    slow.back()->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  }
  const auto start = Clock::now();
  int open = 32;
  while (open > 0 && SecondsSince(start) < 6) {
    EXPECT_EQ(HealthStatusLine(server.port()), "HTTP/1.1 200 OK");
    open = 0;
    for (auto& client : slow) open += client->Send("X") ? 1 : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(open, 0) << "slow clients still open after " << SecondsSince(start) << " s";
  EXPECT_LT(SecondsSince(start), 4.5);
}

TEST(HttpServerTest, SlowBodiesAreClosedAtTheBodyDeadline) {
  HttpServer server({.header_timeout_seconds = 2, .body_timeout_seconds = 2});
  std::atomic<int> calls = 0;
  server.Post("/in", [&](const HttpRequest&, HttpResponse*) { ++calls; });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  RawClient client(server.port());
  client.Send("POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
  const auto start = Clock::now();
  while (client.Send("x") && SecondsSince(start) < 6) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_TRUE(client.ClosedWithin(1));
  EXPECT_LT(SecondsSince(start), 4.5);
  EXPECT_EQ(calls, 0);
}

// A refused request is answered on its headers: the client sends no body byte at all and
// still gets the answer (a chunked body, so no length would have told the server).
TEST(HttpServerTest, HeaderCheckAnswersBeforeTheBody) {
  HttpServer server;
  std::atomic<int> calls = 0;
  server.Post(
      "/in", [&](const HttpRequest&, HttpResponse*) { ++calls; },
      [](const HttpRequest& request, HttpResponse* response) {
        if (request.header("Authorization") == "Bearer good") return true;
        response->status = 401;
        response->body = "no";
        return false;
      });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  RawClient chunked(server.port());
  chunked.Send("POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_THAT(chunked.ReadAll(), StartsWith("HTTP/1.1 401"));
  RawClient expect(server.port());
  expect.Send(
      "POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
      "Authorization: Bearer good\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_THAT(expect.ReadAll(), StartsWith("HTTP/1.1 413"));

  RawClient good(server.port());
  good.Send(
      "POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Authorization: Bearer good\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  EXPECT_THAT(good.ReadAll(), StartsWith("HTTP/1.1 200"));
  EXPECT_EQ(calls, 1);
}

// A chunked body has no length to check: it is refused as soon as it passes the limit, and
// the rest is never read.
TEST(HttpServerTest, ChunkedBodyOverTheLimitIsCutShort) {
  HttpServer server({.max_body_bytes = 64 * 1024});
  std::atomic<int> calls = 0;
  server.Post("/in", [&](const HttpRequest&, HttpResponse*) { ++calls; });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  RawClient client(server.port());
  client.Send("POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'x') + "\r\n";
  std::string answer;
  std::thread reader([&] { answer = client.ReadAll(); });
  size_t sent = 0;
  for (int i = 0; i < 4 * 1024 && client.Send(chunk); ++i) sent += 0x4000;
  reader.join();
  EXPECT_LT(sent, 16u * 1024 * 1024);  // the server stopped reading (64 MiB were offered)
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 413"));
  EXPECT_EQ(calls, 0);
}

// At the cap, a new connection waits in the listen backlog (it is not read) until another
// closes; the header deadline frees the slots idle ones hold.
TEST(HttpServerTest, ConnectionsAreCapped) {
  HttpServer server({.event_threads = 1, .header_timeout_seconds = 2, .max_connections = 50});
  server.ServeHealth([] { return Health{}; });
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 50; ++i) idle.push_back(std::make_unique<RawClient>(server.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = Clock::now();
  EXPECT_EQ(HealthStatusLine(server.port()), "HTTP/1.1 200 OK");
  const double waited = SecondsSince(start);
  EXPECT_GT(waited, 1.0);  // not served while 50 were open
  EXPECT_LT(waited, 4.0);  // served once the idle ones passed their header deadline
}

}  // namespace
}  // namespace civicpulse::runtime
