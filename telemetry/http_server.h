#ifndef SIGIL_TELEMETRY_HTTP_SERVER_H_
#define SIGIL_TELEMETRY_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "telemetry/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

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
};

// The operator's side of a Sigil binary over plain HTTP, GET only:
// /healthz (200 while the process serves), /readyz (200 while ready, 503
// otherwise), /metrics (Prometheus text) and the owner's routes. Requests
// carry no body and answers hold no secret. Thread-safe.
class HttpServer {
 public:
  // Binds `listen` and serves from a thread pool. FAILED_PRECONDITION
  // "cannot listen on ..." when the address is taken or malformed.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options);
  ~HttpServer();  // Stops.

  // /readyz answers 503 from now on (a drain); the rest still serves.
  void SetNotReady() { draining_.store(true); }
  // Stops accepting and waits for in-flight requests. Idempotent.
  void Stop();

  int port() const { return port_; }

 private:
  explicit HttpServer(HttpServerOptions options);
  void Route(std::map<std::string, HttpHandler> routes);

  const HttpServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> draining_{false};
  int port_ = 0;
};

}  // namespace sigil::telemetry

#endif  // SIGIL_TELEMETRY_HTTP_SERVER_H_
