#include "telemetry/http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace sigil::telemetry {
namespace {

constexpr char kClosedName[] = "sigil_http_connections_closed_total";
constexpr char kClosedHelp[] =
    "HTTP connections closed without an answer: head_deadline (request not "
    "complete in time), deadline (the whole connection deadline), shed (cut "
    "to keep room for new connections), per_address (refused: too many open "
    "from the address), no_request (a head over the memory bound, a "
    "malformed one, the idle timeout, the client leaving).";

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

// Every open connection with its deadlines. MHD has no total request
// deadline: its timeout counts inactivity, which each trickled byte
// resets. So a thread of ours cuts what is past its deadline by shutting
// the socket down; MHD's loop then sees the end of the stream and closes
// the connection itself. Only shutdown(2), never close(2): the descriptor
// stays MHD's, and it stays open until MHD reports the connection closed,
// which takes `mu_`, so no cut ever touches a recycled descriptor.
//
// The per-address limit is applied here too, from MHD's accept policy,
// rather than by MHD_OPTION_PER_IP_CONNECTION_LIMIT, so that refusals are
// counted. MHD calls the policy and then reports the connection started on
// its one thread, in that order, so the count the policy reads is current.
class HttpServer::Connections {
 public:
  using Clock = std::chrono::steady_clock;

  Connections(const HttpServerLimits& limits, MetricsRegistry& metrics)
      : head_deadline_(absl::ToChronoNanoseconds(limits.head_deadline)),
        deadline_(absl::ToChronoNanoseconds(limits.connection_deadline)),
        per_address_(limits.connections_per_ip),
        // Four fifths of MHD's limit, so MHD itself never reaches it.
        shed_above_(std::max(1u, limits.connections * 4 / 5)),
        // A tenth of the shorter deadline: a cut comes at most 10% late.
        sweep_every_(std::clamp(
            std::min(limits.head_deadline, limits.connection_deadline) / 10,
            absl::Milliseconds(50), absl::Seconds(1))),
        head_cut_(ClosedCounter(metrics, "head_deadline")),
        cut_(ClosedCounter(metrics, "deadline")),
        shed_(ClosedCounter(metrics, "shed")),
        refused_(ClosedCounter(metrics, "per_address")),
        no_request_(ClosedCounter(metrics, "no_request")),
        sweeper_([this] { Sweep(); }) {}

  ~Connections() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    sweeper_.join();
  }

  // From MHD's accept policy, on its thread: whether the address may open
  // one more connection.
  bool Admit(const sockaddr* address, socklen_t length) {
    const std::string key = AddressKey(address, length);
    absl::MutexLock lock(&mu_);
    auto count = per_address_open_.find(key);
    if (count == per_address_open_.end() || count->second < per_address_) {
      return true;
    }
    refused_->Increment();
    return false;
  }

  // From MHD's notify-connection callback, on its thread.
  void Opened(MHD_Connection* connection) {
    const MHD_ConnectionInfo* fd =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (fd == nullptr) return;
    const MHD_ConnectionInfo* client =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    std::string key;
    if (client != nullptr && client->client_addr != nullptr) {
      key = AddressKey(client->client_addr, sizeof(sockaddr_storage));
    }
    const Clock::time_point now = Clock::now();
    absl::MutexLock lock(&mu_);
    ++per_address_open_[key];
    open_[connection] =
        Open{fd->connect_fd, key, now, now + head_deadline_, now + deadline_};
    ++live_;
    Shed(connection);
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
    if (!open->second.cut) --live_;
    auto count = per_address_open_.find(open->second.address);
    if (count != per_address_open_.end() && --count->second == 0) {
      per_address_open_.erase(count);
    }
    open_.erase(open);
  }

 private:
  struct Open {
    int fd;
    std::string address;
    Clock::time_point opened;
    Clock::time_point head_deadline;
    Clock::time_point deadline;
    bool answered = false;
    bool cut = false;
  };

  static Counter* ClosedCounter(MetricsRegistry& metrics, const char* reason) {
    return metrics.GetCounter(kClosedName, kClosedHelp, {{"reason", reason}});
  }

  // The client's address without its port: IPv4 or IPv6 bytes.
  static std::string AddressKey(const sockaddr* address, socklen_t length) {
    if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(address);
      return std::string(reinterpret_cast<const char*>(&in->sin_addr),
                         sizeof(in->sin_addr));
    }
    if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
      return std::string(reinterpret_cast<const char*>(&in6->sin6_addr),
                         sizeof(in6->sin6_addr));
    }
    return "";
  }

  // Counted first, so whoever sees the cut sees it counted; cut once, and
  // MHD closes it at its next turn.
  void Cut(Open& open, Counter* reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reason != nullptr) reason->Increment();
    open.cut = true;
    --live_;
    shutdown(open.fd, SHUT_RDWR);
  }

  // Security: keeps MHD below its connection limit, where it would stop
  // accepting and leave the kubelet's probe in the backlog. The oldest
  // connection without a complete request goes first: it has had the
  // longest to send a tiny GET, and a fresh probe, being the newest, is
  // the last to go; `opened` itself never does. Answered connections are
  // never shed; the deadline bounds them. A linear scan: at most
  // `connections` entries, once per accepted connection beyond four fifths
  // of the limit.
  void Shed(MHD_Connection* opened) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (live_ > shed_above_) {
      Open* oldest = nullptr;
      for (auto& [connection, open] : open_) {
        if (connection == opened || open.cut || open.answered) continue;
        if (oldest == nullptr || open.opened < oldest->opened) oldest = &open;
      }
      if (oldest == nullptr) return;
      Cut(*oldest, shed_);
    }
  }

  void Sweep() {
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), sweep_every_)) {
      const Clock::time_point now = Clock::now();
      for (auto& [connection, open] : open_) {
        if (open.cut) continue;
        if (!open.answered && open.head_deadline <= now) {
          // When the whole deadline comes first, say so.
          Cut(open, open.deadline <= open.head_deadline ? cut_ : head_cut_);
        } else if (open.deadline <= now) {
          // An answered connection still sending to a slow reader: it was
          // answered, so it is not counted as closed without an answer.
          Cut(open, open.answered ? nullptr : cut_);
        }
      }
    }
  }

  const Clock::duration head_deadline_;
  const Clock::duration deadline_;
  const unsigned per_address_;
  const unsigned shed_above_;
  const absl::Duration sweep_every_;
  Counter* const head_cut_;
  Counter* const cut_;
  Counter* const shed_;
  Counter* const refused_;
  Counter* const no_request_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<MHD_Connection*, Open> open_ ABSL_GUARDED_BY(mu_);
  // Open connections not yet cut.
  unsigned live_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, unsigned> per_address_open_
      ABSL_GUARDED_BY(mu_);
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
  MHD_AcceptPolicyCallback admit = [](void* connections,
                                      const sockaddr* address,
                                      socklen_t length) -> MHD_Result {
    return static_cast<Connections*>(connections)->Admit(address, length)
               ? MHD_YES
               : MHD_NO;
  };
  absl::MutexLock lock(&server->stop_mu_);
  server->connections_ = std::make_unique<Connections>(limits, metrics);
  server->daemon_ = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD, 0, admit, server->connections_.get(),
      on_request, server.get(), MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits.connection_memory,
      MHD_OPTION_CONNECTION_LIMIT, limits.connections,
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
    return HttpResponse{
        200, "text/plain; version=0.0.4; charset=utf-8", MetricsBody(), {}};
  }
  auto route = routes_.find(std::string(path));
  if (route == routes_.end()) return HttpResponse{404, "", "", {}};
  return route->second(request);
}

std::string HttpServer::MetricsBody() const {
  const auto now = std::chrono::steady_clock::now();
  const double burst = std::max(1u, options_.metrics_render_burst);
  absl::MutexLock lock(&metrics_mu_);
  if (!metrics_rendered_) {
    metrics_tokens_ = burst;
  } else {
    const double every =
        std::max(1e-6, absl::ToDoubleSeconds(options_.metrics_render_every));
    const double elapsed =
        std::chrono::duration<double>(now - metrics_refilled_at_).count();
    metrics_tokens_ = std::min(burst, metrics_tokens_ + elapsed / every);
  }
  metrics_refilled_at_ = now;
  // Security: a scraping loop spends the burst and then gets the last body,
  // so renders on the event thread stay at one per `metrics_render_every`.
  if (!metrics_rendered_ || metrics_tokens_ >= 1) {
    metrics_body_ = options_.metrics->Render();
    metrics_rendered_ = true;
    metrics_tokens_ -= 1;
  }
  return metrics_body_;
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
