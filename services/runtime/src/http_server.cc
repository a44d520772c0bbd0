#include "civicpulse/runtime/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "civicpulse/runtime/common_flags.h"
#include "civicpulse/runtime/process_metrics.h"
#include "prometheus/collectable.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace civicpulse::runtime {

struct HttpServer::Impl {
  HttpServerOptions options;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = 0;
  absl::Mutex mu;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables ABSL_GUARDED_BY(mu);
};

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->server.set_payload_max_length(options.max_body_bytes);
  impl_->server.set_read_timeout(options.read_timeout_seconds, 0);
  // Replies are small and written at once: without TCP_NODELAY, Nagle and delayed ACKs
  // hold each keep-alive answer ~40 ms.
  impl_->server.set_tcp_nodelay(true);
  const int threads = options.worker_threads;
  impl_->server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
}

HttpServer::~HttpServer() { Stop(); }

namespace {

httplib::Server::Handler Adapt(HttpHandler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    HttpRequest request;
    request.method = req.method;
    request.path = req.path;
    request.body = req.body;
    request.remote_addr = req.remote_addr;
    for (const auto& [key, value] : req.params) request.params.emplace(key, value);
    request.header = [&req](const std::string& name) {
      return req.get_header_value(name.c_str());
    };
    HttpResponse response;
    handler(request, &response);
    res.status = response.status;
    for (const auto& [key, value] : response.headers) res.set_header(key.c_str(), value);
    res.set_content(response.body, response.content_type.c_str());
  };
}

}  // namespace

void HttpServer::Get(const std::string& path, HttpHandler handler) {
  impl_->server.Get(path, Adapt(std::move(handler)));
}

void HttpServer::Post(const std::string& path, HttpHandler handler) {
  impl_->server.Post(path, Adapt(std::move(handler)));
}

void HttpServer::AddCollectable(std::shared_ptr<prometheus::Collectable> collectable) {
  absl::MutexLock lock(&impl_->mu);
  impl_->collectables.push_back(std::move(collectable));
}

void HttpServer::ServeMetrics(std::shared_ptr<prometheus::Registry> registry) {
  AddCollectable(registry);
  AddCollectable(MakeProcessCollector());
  Impl* impl = impl_.get();
  Get("/metrics", [impl](const HttpRequest&, HttpResponse* response) {
    std::vector<prometheus::MetricFamily> families;
    {
      absl::MutexLock lock(&impl->mu);
      for (const auto& collectable : impl->collectables) {
        auto part = collectable->Collect();
        families.insert(families.end(), std::make_move_iterator(part.begin()),
                        std::make_move_iterator(part.end()));
      }
    }
    response->content_type = "text/plain; version=0.0.4; charset=utf-8";
    response->body = prometheus::TextSerializer().Serialize(families);
  });
}

void HttpServer::ServeHealth(std::function<Health()> health) {
  Get("/healthz", [health = std::move(health)](const HttpRequest&, HttpResponse* response) {
    const Health h = health();
    response->status = h.ok ? 200 : 503;
    response->body = h.ok ? "ok\n" : absl::StrCat(h.detail, "\n");
  });
}

absl::Status HttpServer::Start(const std::string& listen) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(listen, &host, &port); !s.ok()) return s;
  if (port == 0) {
    impl_->port = impl_->server.bind_to_any_port(host);
    if (impl_->port <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
    }
  } else {
    if (!impl_->server.bind_to_port(host, port)) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", listen, " (address in use or not permitted)"));
    }
    impl_->port = port;
  }
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->server.listen_after_bind();
    impl->listen_returned = true;
  });
  // httplib's stop() does nothing until the accept loop runs; a Stop() right after Start()
  // (a short-lived process) would then join a thread that never ends. Wait for the loop.
  while (!impl_->server.is_running() && !impl_->listen_returned) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return absl::OkStatus();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (impl_ == nullptr) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace civicpulse::runtime
