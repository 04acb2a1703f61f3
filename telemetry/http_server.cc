#include "telemetry/http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace sigil::telemetry {
namespace {

constexpr char kClosedName[] = "sigil_http_connections_closed_total";
constexpr char kClosedHelp[] =
    "HTTP connections closed without an answer: cut at the deadline, or "
    "closed before a complete request came (a head over the memory bound, "
    "a malformed one, the idle timeout, the client leaving).";

absl::Status CannotListen(const std::string& listen) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot listen on ", listen,
                   " for HTTP (address in use, not permitted, or malformed)"));
}

// A listening socket on host:port with SO_REUSEADDR only: SO_REUSEPORT
// would let a second process bind the same port and take half the
// requests, while SO_REUSEADDR alone still allows a restart while old
// connections sit in TIME_WAIT. -1 when nothing could be bound.
int Listen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) !=
      0) {
    return -1;
  }
  int fd = -1;
  for (addrinfo* at = found; at != nullptr && fd < 0; at = at->ai_next) {
    fd = socket(at->ai_family, at->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                at->ai_protocol);
    if (fd < 0) continue;
    int yes = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)) != 0 ||
        bind(fd, at->ai_addr, at->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return -1;
  }
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  }
  return -1;
}

unsigned WholeSeconds(absl::Duration duration) {
  return static_cast<unsigned>(std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(duration, absl::Seconds(1)))));
}

class Request final : public HttpRequest {
 public:
  explicit Request(MHD_Connection* connection) : connection_(connection) {}
  std::string Header(absl::string_view name) const override {
    const char* value = MHD_lookup_connection_value(
        connection_, MHD_HEADER_KIND, std::string(name).c_str());
    return value == nullptr ? "" : value;
  }

 private:
  MHD_Connection* const connection_;
};

HttpResponse Text(int status, std::string body) {
  return HttpResponse{status, "text/plain", std::move(body), {}};
}

MHD_Result Send(MHD_Connection* connection, const HttpResponse& from) {
  MHD_Response* response = MHD_create_response_from_buffer(
      from.body.size(), const_cast<char*>(from.body.data()),
      MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  for (const auto& [name, value] : from.headers) {
    MHD_add_response_header(response, name.c_str(), value.c_str());
  }
  if (!from.content_type.empty()) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            from.content_type.c_str());
  }
  // One request per connection, so the connection deadline is a request
  // deadline and a keep-alive client never has its next request cut.
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
  const MHD_Result queued = MHD_queue_response(
      connection, static_cast<unsigned>(from.status), response);
  MHD_destroy_response(response);
  return queued;
}

}  // namespace

// Every open connection with its deadline. MHD has no total request
// deadline: its timeout counts inactivity, which each trickled byte
// resets. So a thread of ours cuts what is past its deadline by shutting
// the socket down; MHD's loop then sees the end of the stream and closes
// the connection itself. Only shutdown(2), never close(2): the descriptor
// stays MHD's, and it stays open until MHD reports the connection closed,
// which takes `mu_`, so the sweep never touches a recycled descriptor.
class HttpServer::Connections {
 public:
  Connections(absl::Duration deadline, MetricsRegistry& metrics)
      : deadline_(deadline),
        // A tenth of the deadline: a cut comes at most 10% late.
        sweep_every_(std::clamp(deadline / 10, absl::Milliseconds(50),
                                absl::Seconds(1))),
        cut_(metrics.GetCounter(kClosedName, kClosedHelp,
                                {{"reason", "deadline"}})),
        no_request_(metrics.GetCounter(kClosedName, kClosedHelp,
                                       {{"reason", "no_request"}})),
        sweeper_([this] { Sweep(); }) {}

  ~Connections() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    sweeper_.join();
  }

  // From MHD's notify-connection callback, on its thread.
  void Opened(MHD_Connection* connection) {
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info == nullptr) return;
    absl::MutexLock lock(&mu_);
    open_[connection] = Open{info->connect_fd, absl::Now() + deadline_};
  }
  // From MHD's access handler, on its thread: a complete request came.
  void Answered(MHD_Connection* connection) {
    absl::MutexLock lock(&mu_);
    auto open = open_.find(connection);
    if (open != open_.end()) open->second.answered = true;
  }
  void Closed(MHD_Connection* connection) {
    absl::MutexLock lock(&mu_);
    auto open = open_.find(connection);
    if (open == open_.end()) return;
    // A head over the memory bound (MHD answered 431), a malformed one,
    // the idle timeout or the client leaving early: MHD says not which.
    if (!open->second.answered && !open->second.cut) no_request_->Increment();
    open_.erase(open);
  }

 private:
  struct Open {
    int fd;
    absl::Time deadline;
    bool answered = false;
    bool cut = false;
  };

  void Sweep() {
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), sweep_every_)) {
      const absl::Time now = absl::Now();
      for (auto& [connection, open] : open_) {
        if (open.cut || open.deadline > now) continue;
        // Counted first, so whoever sees the cut sees it counted.
        cut_->Increment();
        open.cut = true;
        // Cut once; MHD closes it at its next turn.
        shutdown(open.fd, SHUT_RDWR);
      }
    }
  }

  const absl::Duration deadline_;
  const absl::Duration sweep_every_;
  Counter* const cut_;
  Counter* const no_request_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<MHD_Connection*, Open> open_ ABSL_GUARDED_BY(mu_);
  std::thread sweeper_;
};

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options) {
  if (options.metrics == nullptr) {
    return absl::InvalidArgumentError("http server needs metrics");
  }
  const size_t colon = options.listen.rfind(':');
  int requested_port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(options.listen).substr(colon + 1),
                        &requested_port) ||
      requested_port < 0 || requested_port > 65535) {
    return CannotListen(options.listen);
  }
  std::string host = options.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return CannotListen(options.listen);

  const int fd = Listen(host, requested_port);
  if (fd < 0) return CannotListen(options.listen);
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(options)));
  server->port_ = BoundPort(fd);
  if (server->port_ <= 0) {
    close(fd);
    return CannotListen(server->options_.listen);
  }
  if (server->options_.routes) {
    server->routes_ = server->options_.routes(server->port_);
  }
  const HttpServerLimits& limits = server->options_.limits;
  // The registry is the owner's and outlives us; only its counters change.
  MetricsRegistry& metrics =
      *const_cast<MetricsRegistry*>(server->options_.metrics);

  // One epoll loop on one thread: a connection costs a few KiB of MHD's
  // pool, never a thread, so slow clients cannot starve the probes. MHD is
  // built with its own messages on stderr; without MHD_USE_ERROR_LOG it
  // stays silent, so a client cannot make it write.
  MHD_AccessHandlerCallback on_request =
      [](void* self, MHD_Connection* connection, const char* url,
         const char* method, const char*, const char*, size_t*,
         void**) -> MHD_Result {
    const HttpServer& server = *static_cast<const HttpServer*>(self);
    server.connections_->Answered(connection);
    return Send(connection, server.Answer(method, url, Request(connection)));
  };
  MHD_NotifyConnectionCallback on_connection =
      [](void* connections, MHD_Connection* connection, void**,
         MHD_ConnectionNotificationCode code) {
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
          static_cast<Connections*>(connections)->Opened(connection);
        } else {
          static_cast<Connections*>(connections)->Closed(connection);
        }
      };
  absl::MutexLock lock(&server->stop_mu_);
  server->connections_ =
      std::make_unique<Connections>(limits.connection_deadline, metrics);
  server->daemon_ = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD, 0, nullptr, nullptr, on_request,
      server.get(), MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits.connection_memory,
      MHD_OPTION_CONNECTION_LIMIT, limits.connections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, limits.connections_per_ip,
      MHD_OPTION_CONNECTION_TIMEOUT, WholeSeconds(limits.idle_timeout),
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, server->connections_.get(),
      MHD_OPTION_END);
  // The listening socket is not closed here: a failed start may have
  // closed it already, and a descriptor closed twice could be another's.
  if (server->daemon_ == nullptr) return CannotListen(server->options_.listen);
  return server;
}

HttpResponse HttpServer::Answer(absl::string_view method,
                                absl::string_view path,
                                const HttpRequest& request) const {
  if (method != "GET" && method != "HEAD") {
    HttpResponse refused = Text(405, "only GET\n");
    refused.headers.emplace_back("Allow", "GET, HEAD");
    return refused;
  }
  if (path == "/healthz") return Text(200, "ok\n");
  if (path == "/readyz") {
    if (draining_.load()) return Text(503, "shutting down\n");
    if (options_.ready && !options_.ready()) return Text(503, "not ready\n");
    return Text(200, "ready\n");
  }
  if (path == "/metrics") {
    return HttpResponse{200,
                        "text/plain; version=0.0.4; charset=utf-8",
                        options_.metrics->Render(),
                        {}};
  }
  auto route = routes_.find(std::string(path));
  if (route == routes_.end()) return HttpResponse{404, "", "", {}};
  return route->second(request);
}

void HttpServer::Stop() {
  draining_.store(true);
  absl::MutexLock lock(&stop_mu_);
  // Joins MHD's thread, so the request in flight has been answered.
  if (daemon_ != nullptr) MHD_stop_daemon(std::exchange(daemon_, nullptr));
  connections_.reset();
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace sigil::telemetry
