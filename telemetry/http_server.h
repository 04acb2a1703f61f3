#ifndef SIGIL_TELEMETRY_HTTP_SERVER_H_
#define SIGIL_TELEMETRY_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "telemetry/metrics.h"

struct MHD_Daemon;

namespace sigil::telemetry {

// What a route handler sees of a GET request.
class HttpRequest {
 public:
  virtual ~HttpRequest() = default;
  // The value of header `name` (case-insensitive), empty when absent.
  virtual std::string Header(absl::string_view name) const = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// What one client may hold of the server. The port faces untrusted
// networks (the agent's is on 0.0.0.0 in Kubernetes) and its requests are
// tiny GETs, so every bound is far above what a probe, a scraper or a key
// fetcher needs and far below what would hurt the process. Deadlines are
// read on the monotonic clock: a wall-clock step never stretches them.
struct HttpServerLimits {
  // Per-connection memory, request line and headers included: a longer
  // head gets 431 and the connection is closed, so an endless header
  // stream costs this much and no more.
  size_t connection_memory = 16 * 1024;
  // Open connections in all. libmicrohttpd 0.9.75 stops accepting at this
  // count (new connections wait in the kernel's backlog, where a probe
  // times out), so the server never lets it be reached: once more than
  // four fifths are open, each new connection sheds the oldest one still
  // without a complete request. With the memory bound above, the worst
  // case is 4 MiB.
  unsigned connections = 256;
  // Open connections from one address, so a single host cannot take the
  // whole pool from the kubelet's probes or Prometheus; beyond it a new
  // connection is closed at once.
  unsigned connections_per_ip = 32;
  // A connection that sends or reads nothing for this long is closed.
  absl::Duration idle_timeout = absl::Seconds(5);
  // A connection whose request is not complete this long after it was
  // accepted is cut: requests are tiny GETs, and a client trickling its
  // head would otherwise hold a slot for the whole deadline below.
  absl::Duration head_deadline = absl::Seconds(2);
  // Whatever a connection sends or reads, it is cut this long after it was
  // accepted: a client trickling one byte at a time never resets it. Each
  // connection serves one request (answers say "Connection: close"), so
  // this is a deadline per request too.
  absl::Duration connection_deadline = absl::Seconds(10);
};

struct HttpServerOptions {
  // host:port; port 0 picks a free one.
  std::string listen;
  // Rendered at /metrics. Not owned; must outlive the server.
  const MetricsRegistry* metrics = nullptr;
  // Whether /readyz answers 200, asked at each probe (thread-safe); null
  // means ready. SetNotReady overrides it for good.
  std::function<bool()> ready;
  // Further GET routes by path, built once the port is bound (a handler
  // may need it, as a discovery document does) and before any request is
  // served. Handlers run on the server's threads: thread-safe.
  std::function<std::map<std::string, HttpHandler>(int port)> routes;
  // /metrics renders at most `metrics_render_burst` bodies in a row and
  // then one per `metrics_render_every`; a scrape beyond that gets the last
  // body, at most about `metrics_render_every` old. So a client scraping in
  // a loop cannot keep the event thread rendering (sigild's render reads
  // RocksDB properties) while probes wait, and an occasional scrape, a
  // scraper's or a test's, always sees what happened before it.
  unsigned metrics_render_burst = 10;
  absl::Duration metrics_render_every = absl::Milliseconds(100);
  // The defaults are the product's; tests shorten them.
  HttpServerLimits limits;
};

// The operator's side of a Sigil binary over plain HTTP, GET only:
// /healthz (200 while the process serves), /readyz (200 while ready, 503
// otherwise), /metrics (Prometheus text) and the owner's routes; other
// paths get 404, other methods 405. Requests carry no body and answers
// hold no secret. Served by GNU libmicrohttpd from one event-loop thread
// (handlers run there one at a time, so they must be quick) within
// `HttpServerLimits`; connections closed without an answer are counted in
// sigil_http_connections_closed_total by reason (head_deadline, deadline,
// shed, per_address, no_request). Thread-safe.
class HttpServer {
 public:
  // Binds `listen` (SO_REUSEADDR, never SO_REUSEPORT) and serves.
  // FAILED_PRECONDITION "cannot listen on ..." when the address is taken or
  // malformed.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options);
  ~HttpServer();  // Stops.

  // /readyz answers 503 from now on (a drain); the rest still serves.
  void SetNotReady() { draining_.store(true); }
  // Stops accepting and waits for in-flight requests. Idempotent.
  void Stop();

  int port() const { return port_; }

 private:
  class Connections;

  explicit HttpServer(HttpServerOptions options);
  HttpResponse Answer(absl::string_view method, absl::string_view path,
                      const HttpRequest& request) const;
  // The Prometheus text: rendered now, or the last body when the render
  // budget (`metrics_render_burst`, `metrics_render_every`) is spent.
  std::string MetricsBody() const;

  const HttpServerOptions options_;
  std::map<std::string, HttpHandler> routes_;
  // Open connections and their deadlines, swept by a thread of its own.
  // Set before MHD starts and reset once it has stopped, under stop_mu_;
  // MHD's callbacks read it in between without the lock.
  std::unique_ptr<Connections> connections_;
  absl::Mutex stop_mu_;
  MHD_Daemon* daemon_ ABSL_GUARDED_BY(stop_mu_) = nullptr;
  std::atomic<bool> draining_{false};
  int port_ = 0;
  mutable absl::Mutex metrics_mu_;
  mutable std::string metrics_body_ ABSL_GUARDED_BY(metrics_mu_);
  // A token bucket of renders, on the monotonic clock: `metrics_tokens_`
  // as of `metrics_refilled_at_`.
  mutable double metrics_tokens_ ABSL_GUARDED_BY(metrics_mu_) = 0;
  mutable std::chrono::steady_clock::time_point metrics_refilled_at_
      ABSL_GUARDED_BY(metrics_mu_);
  mutable bool metrics_rendered_ ABSL_GUARDED_BY(metrics_mu_) = false;
};

}  // namespace sigil::telemetry

#endif  // SIGIL_TELEMETRY_HTTP_SERVER_H_
