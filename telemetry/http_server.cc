#include "telemetry/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sigil::telemetry {
namespace {

// Every endpoint is a GET without a body; anything larger is not ours.
constexpr size_t kMaxRequestBody = 1024;
constexpr time_t kReadTimeoutSeconds = 5;

absl::Status CannotListen(const std::string& listen) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot listen on ", listen,
                   " for HTTP (address in use, not permitted, or malformed)"));
}

class Request final : public HttpRequest {
 public:
  explicit Request(const httplib::Request& request) : request_(request) {}
  std::string Header(absl::string_view name) const override {
    return request_.get_header_value(std::string(name).c_str());
  }

 private:
  const httplib::Request& request_;
};

void Send(const HttpResponse& from, httplib::Response& to) {
  to.status = from.status;
  for (const auto& [name, value] : from.headers) to.set_header(name, value);
  if (!from.body.empty() || !from.content_type.empty()) {
    to.set_content(from.body, from.content_type.c_str());
  }
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {}

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

  std::unique_ptr<HttpServer> server(new HttpServer(std::move(options)));
  httplib::Server& http = *server->server_;
  http.set_read_timeout(kReadTimeoutSeconds, 0);
  http.set_write_timeout(kReadTimeoutSeconds, 0);
  http.set_payload_max_length(kMaxRequestBody);
  // httplib's default adds SO_REUSEPORT, which would let a second process
  // bind the same port and take half the requests; SO_REUSEADDR alone
  // still allows a restart while old connections sit in TIME_WAIT.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (requested_port == 0) {
    server->port_ = http.bind_to_any_port(host);
    if (server->port_ <= 0) return CannotListen(server->options_.listen);
  } else {
    if (!http.bind_to_port(host, requested_port)) {
      return CannotListen(server->options_.listen);
    }
    server->port_ = requested_port;
  }
  server->Route(server->options_.routes ? server->options_.routes(server->port_)
                                        : std::map<std::string, HttpHandler>());
  server->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() only takes effect on a running server; without this wait a Stop
  // right after Start could leave the accept loop running forever.
  while (!http.is_running()) std::this_thread::yield();
  return server;
}

void HttpServer::Route(std::map<std::string, HttpHandler> routes) {
  httplib::Server& http = *server_;
  for (auto& [path, handler] : routes) {
    http.Get(path,
             [handler = std::move(handler)](const httplib::Request& request,
                                            httplib::Response& response) {
               Send(handler(Request(request)), response);
             });
  }
  http.Get("/healthz",
           [](const httplib::Request&, httplib::Response& response) {
             response.set_content("ok\n", "text/plain");
           });
  http.Get("/readyz",
           [this](const httplib::Request&, httplib::Response& response) {
             if (draining_.load()) {
               response.status = 503;
               response.set_content("shutting down\n", "text/plain");
             } else if (options_.ready && !options_.ready()) {
               response.status = 503;
               response.set_content("not ready\n", "text/plain");
             } else {
               response.set_content("ready\n", "text/plain");
             }
           });
  http.Get("/metrics",
           [this](const httplib::Request&, httplib::Response& response) {
             response.set_content(options_.metrics->Render(),
                                  "text/plain; version=0.0.4; charset=utf-8");
           });
}

void HttpServer::Stop() {
  draining_.store(true);
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace sigil::telemetry
