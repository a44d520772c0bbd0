// HttpServer: the HTTP edge of every binary (cpp-httplib behind a small interface, so no
// service sees httplib). Serves /metrics from a prometheus-cpp registry (text format 0.0.4)
// and /healthz from a health callback, plus any handlers a service adds (ingest's API).
//
// Thread-safe after Start(): handlers run on the server's worker threads, so they must be
// thread-safe themselves. Register every handler before Start().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace prometheus {
class Collectable;
class Registry;
}  // namespace prometheus

namespace civicpulse::runtime {

struct HttpRequest {
  std::string method;
  std::string path;
  std::string body;
  std::string remote_addr;
  std::multimap<std::string, std::string> params;   // query parameters
  // Header lookup, case-insensitive; "" when absent.
  std::function<std::string(const std::string&)> header;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::multimap<std::string, std::string> headers;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse*)>;

// Health: ok plus a short human-readable reason (shown in /healthz's body).
struct Health {
  bool ok = true;
  std::string detail = "ok";
};

struct HttpServerOptions {
  // Bodies above this are refused with 413 before any handler runs.
  size_t max_body_bytes = 8 * 1024 * 1024;
  int worker_threads = 8;
  int read_timeout_seconds = 10;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();

  void Get(const std::string& path, HttpHandler handler);
  void Post(const std::string& path, HttpHandler handler);
  // GET /metrics serves `registry` (kept alive by the server), the standard process_*
  // metrics, and every collectable added with AddCollectable().
  void ServeMetrics(std::shared_ptr<prometheus::Registry> registry);
  void AddCollectable(std::shared_ptr<prometheus::Collectable> collectable);
  // GET /healthz answers 200 with "ok" or 503 with the detail.
  void ServeHealth(std::function<Health()> health);

  // Binds `listen` ("host:port", port 0 = any free port) and serves on a background thread.
  absl::Status Start(const std::string& listen);
  // The bound port (after Start()).
  int port() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace civicpulse::runtime
