#include "server/http/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "token/json.h"

namespace sigil::server::http {
namespace {

constexpr char kDiscoveryPath[] = "/.well-known/openid-configuration";
constexpr char kJwksPath[] = "/.well-known/jwks.json";
// Verifiers pick up a rotated key within a minute of asking again; the next
// key is published a whole rotation period before it signs, so this never
// makes a token unverifiable.
constexpr char kCacheControl[] = "public, max-age=60";
// Every endpoint is a GET without a body; anything larger is not ours.
constexpr size_t kMaxRequestBody = 1024;
constexpr time_t kReadTimeoutSeconds = 5;

absl::Status CannotListen(const std::string& listen) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot listen on ", listen,
                   " for HTTP (address in use, not permitted, or malformed)"));
}

std::string Quoted(absl::string_view value) {
  return absl::StrCat("\"", value, "\"");
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options) {
  if (!options.jwks || options.metrics == nullptr) {
    return absl::InvalidArgumentError("http server needs jwks and metrics");
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
  // httplib's default adds SO_REUSEPORT, which would let a second sigild
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
  const std::string base =
      server->options_.public_url.empty()
          ? absl::StrCat("http://",
                         server->options_.listen.substr(0, colon + 1),
                         server->port_)
          : server->options_.public_url;
  server->jwks_uri_ = absl::StrCat(base, kJwksPath);
  server->Route();
  server->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() only takes effect on a running server; without this wait a Stop
  // right after Start could leave the accept loop running forever.
  while (!http.is_running()) std::this_thread::yield();
  return server;
}

void HttpServer::Route() {
  httplib::Server& http = *server_;
  http.Get(kDiscoveryPath, [this](const httplib::Request&,
                                  httplib::Response& response) {
    std::vector<token::JsonValue> algorithms;
    for (const std::string& alg : options_.jwks().algorithms) {
      algorithms.push_back(token::JsonValue::String(alg));
    }
    const token::JsonValue document = token::JsonValue::Object({
        {"issuer", token::JsonValue::String(options_.issuer)},
        {"jwks_uri", token::JsonValue::String(jwks_uri_)},
        {"id_token_signing_alg_values_supported",
         token::JsonValue::Array(std::move(algorithms))},
        {"subject_types_supported",
         token::JsonValue::Array({token::JsonValue::String("public")})},
    });
    response.set_header("Cache-Control", kCacheControl);
    response.set_content(document.Serialize(), "application/json");
  });
  http.Get(kJwksPath, [this](const httplib::Request& request,
                             httplib::Response& response) {
    const JwksDocument jwks = options_.jwks();
    const std::string etag = Quoted(jwks.version);
    response.set_header("Cache-Control", kCacheControl);
    response.set_header("ETag", etag);
    if (request.get_header_value("If-None-Match") == etag) {
      response.status = 304;
      return;
    }
    response.set_content(jwks.json, "application/jwk-set+json");
  });
  http.Get("/healthz",
           [](const httplib::Request&, httplib::Response& response) {
             response.set_content("ok\n", "text/plain");
           });
  http.Get("/readyz",
           [this](const httplib::Request&, httplib::Response& response) {
             if (ready_.load()) {
               response.set_content("ready\n", "text/plain");
             } else {
               response.status = 503;
               response.set_content("shutting down\n", "text/plain");
             }
           });
  http.Get("/metrics",
           [this](const httplib::Request&, httplib::Response& response) {
             response.set_content(options_.metrics->Render(),
                                  "text/plain; version=0.0.4; charset=utf-8");
           });
}

void HttpServer::Stop() {
  ready_.store(false);
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace sigil::server::http
