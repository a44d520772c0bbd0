#include "civicpulse/runtime/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "civicpulse/runtime/common_flags.h"
#include "civicpulse/runtime/process_metrics.h"
#include "prometheus/collectable.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace civicpulse::runtime {
namespace {

struct Route {
  HttpHandler handler;
  HeaderCheck check;
  bool inline_handler = false;  // GET: runs on the event thread
};

// One TCP connection (libmicrohttpd's socket context), watched for its deadline.
struct Connection {
  MHD_socket fd = MHD_INVALID_SOCKET;
  absl::Time deadline = absl::InfiniteFuture();  // guarded by Impl::conn_mu
};

// One request in flight (libmicrohttpd's per-request context).
struct RequestState {
  HttpRequest request;
  std::map<std::string, std::string> headers;  // lowercased names
  const Route* route = nullptr;
  HttpResponse response;
  bool respond_now = false;        // answer with `response` without reading further
  std::atomic<bool> ready{false};  // a worker has filled `response`
  bool queued_to_worker = false;
};

// Locks in this file are std::mutex, not absl::Mutex: ThreadSanitizer sees pthread locks,
// but not those inside Debian's uninstrumented libabsl, and this is the code whose threads
// the TSan suite checks (Makefile `tsan`, tsan.supp).

// A fixed pool of threads running POST handlers, with a bounded queue.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Stop(); }

  // False when the queue is full.
  bool Submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ || queue_.size() >= max_queued_) return false;
      queue_.push_back(std::move(task));
    }
    ready_.notify_one();
    return true;
  }

  // Runs what is queued, then joins the threads.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

std::string RemoteAddress(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return "";
  char text[INET6_ADDRSTRLEN] = {};
  const sockaddr* addr = info->client_addr;
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text,
              sizeof(text));
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(cls);
  if (key != nullptr) headers->emplace(absl::AsciiStrToLower(key), value ? value : "");
  return MHD_YES;
}

MHD_Result CollectParam(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* params = static_cast<std::multimap<std::string, std::string>*>(cls);
  if (key != nullptr) params->emplace(key, value ? value : "");
  return MHD_YES;
}

void PlainResponse(HttpResponse* response, int status, std::string body) {
  response->status = status;
  response->content_type = "text/plain; charset=utf-8";
  response->body = std::move(body);
}

MHD_Result Queue(MHD_Connection* connection, const HttpResponse& response) {
  MHD_Response* r = MHD_create_response_from_buffer(
      response.body.size(), const_cast<char*>(response.body.data()), MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", response.content_type.c_str());
  for (const auto& [key, value] : response.headers) {
    MHD_add_response_header(r, key.c_str(), value.c_str());
  }
  const MHD_Result result = MHD_queue_response(connection, response.status, r);
  MHD_destroy_response(r);
  return result;
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  // (method, path) -> route; filled before Start(), read-only after.
  std::map<std::pair<std::string, std::string>, Route> routes;
  MHD_Daemon* daemon = nullptr;
  std::unique_ptr<WorkerPool> workers;
  int port = 0;

  std::mutex mu;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;  // guarded by mu
  std::vector<std::function<std::shared_ptr<const std::string>()>> expositions;  // guarded by mu

  // The deadline watchdog: closes (shutdown(2)) the socket of a connection past its
  // deadline; libmicrohttpd then sees the end of the stream and releases it.
  std::mutex conn_mu;
  std::condition_variable conn_stop;
  std::unordered_set<Connection*> connections;  // guarded by conn_mu
  bool stopping = false;                        // guarded by conn_mu
  std::thread watchdog;
  std::atomic<int> in_flight{0};  // POSTs from their hand-over to a worker to their end

  void SetDeadline(Connection* c, absl::Duration from_now) {
    if (c == nullptr) return;
    std::lock_guard<std::mutex> lock(conn_mu);
    c->deadline = from_now == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                       : absl::Now() + from_now;
  }

  void Watch() {
    std::unique_lock<std::mutex> lock(conn_mu);
    while (!conn_stop.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping; })) {
      const absl::Time now = absl::Now();
      for (Connection* c : connections) {
        if (c->deadline > now) continue;
        // The fd stays open while `c` is in the set: libmicrohttpd reports a connection
        // closed (which removes it, under conn_mu) before it closes the socket.
        shutdown(c->fd, SHUT_RDWR);
        c->deadline = absl::InfiniteFuture();
      }
    }
  }

  static void OnConnection(void* cls, MHD_Connection* connection, void** socket_context,
                           MHD_ConnectionNotificationCode code) {
    auto* impl = static_cast<Impl*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* c = new Connection;
      const MHD_ConnectionInfo* info =
          MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
      if (info != nullptr) c->fd = info->connect_fd;
      c->deadline = absl::Now() + absl::Seconds(impl->options.header_timeout_seconds);
      std::lock_guard<std::mutex> lock(impl->conn_mu);
      impl->connections.insert(c);
      *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      auto* c = static_cast<Connection*>(*socket_context);
      if (c == nullptr) return;
      {
        std::lock_guard<std::mutex> lock(impl->conn_mu);
        impl->connections.erase(c);
      }
      delete c;
      *socket_context = nullptr;
    }
  }

  static void OnCompleted(void* cls, MHD_Connection* connection, void** con_cls,
                          MHD_RequestTerminationCode) {
    auto* impl = static_cast<Impl*>(cls);
    auto* state = static_cast<RequestState*>(*con_cls);
    if (state == nullptr) return;
    if (state->queued_to_worker) impl->in_flight.fetch_sub(1);
    delete state;
    *con_cls = nullptr;
    // Keep-alive: the next request's headers have the header deadline again.
    impl->SetDeadline(ConnectionOf(connection),
                      absl::Seconds(impl->options.header_timeout_seconds));
  }

  static Connection* ConnectionOf(MHD_Connection* connection) {
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == nullptr ? nullptr : static_cast<Connection*>(info->socket_context);
  }

  // The headers of a new request: route, limits and the route's HeaderCheck.
  RequestState* Begin(MHD_Connection* connection, const char* url, const char* method) {
    auto* state = new RequestState;
    SetDeadline(ConnectionOf(connection), absl::Seconds(options.body_timeout_seconds));
    HttpRequest& request = state->request;
    request.method = method;
    request.path = url;
    request.remote_addr = RemoteAddress(connection);
    MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectHeader, &state->headers);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, &CollectParam,
                              &request.params);
    request.header = [headers = &state->headers](const std::string& name) {
      auto it = headers->find(absl::AsciiStrToLower(name));
      return it == headers->end() ? std::string() : it->second;
    };
    if (auto it = state->headers.find("content-length"); it != state->headers.end()) {
      int64_t length = -1;
      if (absl::SimpleAtoi(it->second, &length)) request.content_length = length;
    }
    auto route = routes.find({request.method, request.path});
    if (route == routes.end()) {
      bool other_method = false;
      for (const auto& [key, unused] : routes) other_method |= key.second == request.path;
      PlainResponse(&state->response, other_method ? 405 : 404,
                    other_method ? "method not allowed\n" : "not found\n");
      state->respond_now = true;
      return state;
    }
    state->route = &route->second;
    if (request.content_length > 0 &&
        static_cast<uint64_t>(request.content_length) > options.max_body_bytes) {
      PlainResponse(&state->response, 413,
                    absl::StrCat("body over ", options.max_body_bytes, " bytes\n"));
      state->respond_now = true;
      return state;
    }
    if (state->route->check && !state->route->check(request, &state->response)) {
      state->respond_now = true;
    }
    return state;
  }

  static MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url,
                              const char* method, const char*, const char* upload_data,
                              size_t* upload_data_size, void** con_cls) {
    auto* impl = static_cast<Impl*>(cls);
    auto* state = static_cast<RequestState*>(*con_cls);
    if (state == nullptr) {
      state = impl->Begin(connection, url, method);
      *con_cls = state;
      // Answered on the headers: libmicrohttpd sends it without reading the body, then
      // closes the connection.
      if (state->respond_now) return Queue(connection, state->response);
      return MHD_YES;
    }
    if (state->respond_now) {
      *upload_data_size = 0;
      return MHD_YES;  // the early answer is queued already
    }
    if (*upload_data_size > 0) {
      std::string& body = state->request.body;
      if (body.size() + *upload_data_size > impl->options.max_body_bytes) {
        // A chunked body past the limit. libmicrohttpd 0.9.75 takes no response in the
        // middle of a body, so the 413 is written to the socket directly (nothing else is
        // being written on it while the body is read), then the connection is closed
        // without reading further.
        const std::string text = absl::StrCat(
            "body over ", impl->options.max_body_bytes, " bytes\n");
        const std::string answer =
            absl::StrCat("HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n",
                         "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ",
                         text.size(), "\r\n\r\n", text);
        if (Connection* c = ConnectionOf(connection); c != nullptr) {
          send(c->fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
          shutdown(c->fd, SHUT_WR);
        }
        return MHD_NO;
      }
      body.append(upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
    // The whole request has arrived.
    if (state->ready.load()) return Queue(connection, state->response);
    if (state->queued_to_worker) return MHD_YES;  // spurious call while a worker runs
    if (state->route->inline_handler) {
      state->route->handler(state->request, &state->response);
      return Queue(connection, state->response);
    }
    state->queued_to_worker = true;
    impl->in_flight.fetch_add(1);
    impl->SetDeadline(ConnectionOf(connection), absl::InfiniteDuration());
    MHD_suspend_connection(connection);
    const bool queued = impl->workers->Submit([impl, state, connection] {
      state->route->handler(state->request, &state->response);
      state->ready.store(true);
      impl->SetDeadline(ConnectionOf(connection),
                        absl::Seconds(impl->options.body_timeout_seconds));
      MHD_resume_connection(connection);  // `state` belongs to libmicrohttpd again
    });
    if (!queued) {
      PlainResponse(&state->response, 503, "too many requests in progress, retry later\n");
      state->response.headers.emplace("Retry-After", "1");
      state->ready.store(true);
      MHD_resume_connection(connection);
    }
    return MHD_YES;
  }
};

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& path, HttpHandler handler) {
  impl_->routes[{"GET", path}] = Route{std::move(handler), nullptr, true};
}

void HttpServer::Post(const std::string& path, HttpHandler handler, HeaderCheck check) {
  impl_->routes[{"POST", path}] = Route{std::move(handler), std::move(check), false};
}

void HttpServer::AddCollectable(std::shared_ptr<prometheus::Collectable> collectable) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->collectables.push_back(std::move(collectable));
}

void HttpServer::AddExposition(
    std::function<std::shared_ptr<const std::string>()> exposition) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->expositions.push_back(std::move(exposition));
}

void HttpServer::ServeMetrics(std::shared_ptr<prometheus::Registry> registry) {
  AddCollectable(registry);
  AddCollectable(MakeProcessCollector());
  Impl* impl = impl_.get();
  Get("/metrics", [impl](const HttpRequest&, HttpResponse* response) {
    std::vector<prometheus::MetricFamily> families;
    std::vector<std::shared_ptr<const std::string>> texts;
    {
      std::lock_guard<std::mutex> lock(impl->mu);
      for (const auto& collectable : impl->collectables) {
        auto part = collectable->Collect();
        families.insert(families.end(), std::make_move_iterator(part.begin()),
                        std::make_move_iterator(part.end()));
      }
      for (const auto& exposition : impl->expositions) texts.push_back(exposition());
    }
    response->content_type = "text/plain; version=0.0.4; charset=utf-8";
    response->body = prometheus::TextSerializer().Serialize(families);
    size_t size = response->body.size();
    for (const auto& text : texts) size += text ? text->size() : 0;
    response->body.reserve(size);
    for (const auto& text : texts) {
      if (text) response->body.append(*text);
    }
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
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve listen address ", listen));
  }
  sockaddr_storage address = {};
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  const bool ipv6 = address.ss_family == AF_INET6;

  Impl* impl = impl_.get();
  const HttpServerOptions& o = impl->options;
  impl->workers = std::make_unique<WorkerPool>(std::max(1, o.worker_threads),
                                               static_cast<size_t>(o.max_queued_requests));
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
  if (ipv6) flags |= MHD_USE_IPv6;
  // The idle timeout is a backstop behind the watchdog's absolute deadlines.
  impl->daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &Impl::OnRequest, impl,  //
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&address),
      MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,  //
      MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned int>(std::max(1, o.event_threads)),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned int>(o.max_connections),
      MHD_OPTION_CONNECTION_TIMEOUT,
      static_cast<unsigned int>(std::max(o.header_timeout_seconds, o.body_timeout_seconds)),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(64 * 1024),
      MHD_OPTION_NOTIFY_CONNECTION, &Impl::OnConnection, impl,  //
      MHD_OPTION_NOTIFY_COMPLETED, &Impl::OnCompleted, impl,    //
      MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    impl->workers.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, " (address in use or not permitted)"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_BIND_PORT);
  impl->port = info != nullptr ? info->port : port;
  impl->watchdog = std::thread([impl] { impl->Watch(); });
  return absl::OkStatus();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (impl_ == nullptr || impl_->daemon == nullptr) return;
  Impl* impl = impl_.get();
  // Let the requests in flight finish (handlers, then their responses), then close
  // everything. Not MHD_quiesce_daemon() first: with epoll and a thread pool it races the
  // event threads, which remove the listen socket from their epoll sets too, and the loser
  // of that race aborts the process ("Failed to remove listen FD from epoll set", an open
  // libmicrohttpd defect; seen in StopRightAfterStartReturns under ASan). A connection that
  // arrives during the drain is served or closed by MHD_stop_daemon().
  const absl::Time give_up = absl::Now() + absl::Seconds(impl->options.body_timeout_seconds);
  while (impl->in_flight.load() > 0 && absl::Now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl->workers->Stop();
  MHD_stop_daemon(impl->daemon);
  impl->daemon = nullptr;
  {
    std::lock_guard<std::mutex> lock(impl->conn_mu);
    impl->stopping = true;
  }
  impl->conn_stop.notify_all();
  if (impl->watchdog.joinable()) impl->watchdog.join();
}

}  // namespace civicpulse::runtime
