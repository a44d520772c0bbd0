// HttpServer over a real socket on port 0.
#include "civicpulse/runtime/http_server.h"

#include <httplib.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace civicpulse::runtime {
namespace {

using ::testing::HasSubstr;

TEST(HttpServerTest, ServesMetricsHealthAndHandlers) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("civicpulse_test_total").Help("t").Register(*registry).Add({})
      .Increment(3);
  HttpServer server({.max_body_bytes = 16});
  server.ServeMetrics(registry);
  bool healthy = true;
  server.ServeHealth([&] { return Health{healthy, "kafka unreachable"}; });
  server.Post("/echo", [](const HttpRequest& request, HttpResponse* response) {
    response->status = 202;
    response->body = request.body + request.header("X-Test");
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

  EXPECT_EQ(client.Get("/healthz")->status, 200);
  healthy = false;
  auto unhealthy = client.Get("/healthz");
  EXPECT_EQ(unhealthy->status, 503);
  EXPECT_THAT(unhealthy->body, HasSubstr("kafka unreachable"));

  auto echo = client.Post("/echo", httplib::Headers{{"X-Test", "!"}}, "hi", "text/plain");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->status, 202);
  EXPECT_EQ(echo->body, "hi!");
  auto too_big = client.Post("/echo", std::string(64, 'x'), "text/plain");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  server.Stop();
}

TEST(HttpServerTest, StopRightAfterStartReturns) {
  // A short-lived process (simulator --count) stops its server at once; httplib ignores a
  // stop() that comes before its accept loop runs, which once left Stop() joining forever.
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

}  // namespace
}  // namespace civicpulse::runtime
