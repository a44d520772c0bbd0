// HttpServer: the HTTP edge of every binary (libmicrohttpd behind a small interface, so no
// service sees it). Serves /metrics from a prometheus-cpp registry (text format 0.0.4) and
// /healthz from a health callback, plus any handlers a service adds (ingest's API).
//
// Built to hold against hostile clients (docs/threat-model.md): connections are multiplexed
// by a few event threads (epoll), so idle or slow connections cost a socket and a little
// memory, never a thread. Every connection has absolute deadlines that do not restart when
// a byte arrives: its request headers must be complete within `header_timeout_seconds` of
// the accept (or of the previous response), its body within `body_timeout_seconds` of the
// headers; a connection past its deadline is closed. At most `max_connections` are open at
// once (more are accepted and closed at once). Request headers are limited to 32 KiB.
// A route's HeaderCheck and the body limit run on the headers, before any body byte is
// read (Content-Length or chunked): a refused request is answered and the connection
// closed without reading its body.
//
// GET handlers run on the event threads and must be quick (/metrics, /healthz); POST
// handlers run on `worker_threads` threads, so a handler that waits (for Kafka) never
// delays other connections; when `max_queued_requests` requests already wait for a worker,
// a POST is answered 503 with Retry-After.
//
// Thread-safe after Start(): handlers run concurrently, so they must be thread-safe
// themselves. Register every handler before Start().
#pragma once

#include <cstdint>
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
  std::multimap<std::string, std::string> params;  // query parameters
  // Header lookup, case-insensitive; "" when absent.
  std::function<std::string(const std::string&)> header;
  // The Content-Length header's value; -1 when the body is chunked or has no length.
  int64_t content_length = -1;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::multimap<std::string, std::string> headers;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse*)>;
// Runs on a request's headers (its body is still empty and unread). Returns true to read
// the body and call the handler; false to answer with `*response` at once and close the
// connection without reading the body (a missing token, an unsupported type).
using HeaderCheck = std::function<bool(const HttpRequest&, HttpResponse*)>;

// Health: ok plus a short human-readable reason (shown in /healthz's body).
struct Health {
  bool ok = true;
  std::string detail = "ok";
};

struct HttpServerOptions {
  // Bodies above this are refused with 413 before any handler runs: on the Content-Length
  // header before the body is read, or as soon as a chunked body passes it.
  size_t max_body_bytes = 8 * 1024 * 1024;
  // Threads that run POST handlers.
  int worker_threads = 8;
  // Threads that multiplex the connections.
  int event_threads = 2;
  // From the accept (or the end of the previous response on a keep-alive connection) to
  // the end of the request headers.
  int header_timeout_seconds = 10;
  // From the end of the headers to the end of the body; also the time to send a response.
  int body_timeout_seconds = 30;
  // Open connections at most; more wait in the listen backlog.
  int max_connections = 4096;
  // POST requests waiting for a worker at most; more are answered 503.
  int max_queued_requests = 256;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();

  void Get(const std::string& path, HttpHandler handler);
  // `check`, when set, runs on the headers before the body is read (see HeaderCheck).
  void Post(const std::string& path, HttpHandler handler, HeaderCheck check = nullptr);
  // GET /metrics serves `registry` (kept alive by the server), the standard process_*
  // metrics, and every collectable added with AddCollectable().
  void ServeMetrics(std::shared_ptr<prometheus::Registry> registry);
  void AddCollectable(std::shared_ptr<prometheus::Collectable> collectable);
  // GET /metrics also appends the text `exposition` returns (text format 0.0.4, whole
  // families, none of them named like another source's): for a source that serializes once
  // per change instead of on every scrape. Called on every scrape; must be thread-safe.
  void AddExposition(std::function<std::shared_ptr<const std::string>()> exposition);
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
