#ifndef SIGIL_SERVER_HTTP_HTTP_SERVER_H_
#define SIGIL_SERVER_HTTP_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "telemetry/http_server.h"
#include "telemetry/metrics.h"

namespace sigil::server::http {

// The published key set as GetJwks gives it.
struct JwksDocument {
  std::string json;                     // RFC 7517 JWK Set
  std::string version;                  // key_set_version: the ETag
  std::vector<std::string> algorithms;  // of the published keys, no repeats
};

struct HttpServerOptions {
  // host:port; port 0 picks a free one.
  std::string listen;
  // The iss of every token, published as is in the discovery document.
  std::string issuer;
  // Where clients reach this server (scheme://host[:port], no trailing
  // slash): jwks_uri is built from it. Empty: http://<listen> with the port
  // in use. Never taken from a request's Host header, so a forged Host
  // cannot point a cached discovery document at another key set.
  std::string public_url;
  // Read at every JWKS or discovery request: must be thread-safe.
  std::function<JwksDocument()> jwks;
  // Not owned; must outlive the server.
  const telemetry::MetricsRegistry* metrics = nullptr;
};

// sigild's HTTP side, for clients that speak no gRPC: OIDC discovery and the
// JWK Set beside telemetry::HttpServer's probes and Prometheus metrics, all
// GET.
// Public data only (no token or private key ever passes here), so it serves
// plaintext: put TLS in front of it for verifiers beyond the host.
// Thread-safe.
class HttpServer {
 public:
  // Binds `listen` and serves from a thread pool. FAILED_PRECONDITION
  // "cannot listen on ..." when the address is taken or malformed.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options);

  // /readyz answers 503 from now on; everything else still serves, so
  // probes can watch a drain.
  void SetNotReady() { server_->SetNotReady(); }
  // Stops accepting and waits for in-flight requests. Idempotent.
  void Stop() { server_->Stop(); }

  int port() const { return server_->port(); }

 private:
  explicit HttpServer(std::unique_ptr<telemetry::HttpServer> server)
      : server_(std::move(server)) {}

  const std::unique_ptr<telemetry::HttpServer> server_;
};

}  // namespace sigil::server::http

#endif  // SIGIL_SERVER_HTTP_HTTP_SERVER_H_
