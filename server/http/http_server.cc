#include "server/http/http_server.h"

#include <map>
#include <utility>

#include "absl/status/status.h"
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

std::string Quoted(absl::string_view value) {
  return absl::StrCat("\"", value, "\"");
}

telemetry::HttpResponse Discovery(const HttpServerOptions& options,
                                  const std::string& jwks_uri) {
  std::vector<token::JsonValue> algorithms;
  for (const std::string& alg : options.jwks().algorithms) {
    algorithms.push_back(token::JsonValue::String(alg));
  }
  const token::JsonValue document = token::JsonValue::Object({
      {"issuer", token::JsonValue::String(options.issuer)},
      {"jwks_uri", token::JsonValue::String(jwks_uri)},
      {"id_token_signing_alg_values_supported",
       token::JsonValue::Array(std::move(algorithms))},
      {"subject_types_supported",
       token::JsonValue::Array({token::JsonValue::String("public")})},
  });
  return {200,
          "application/json",
          document.Serialize(),
          {{"Cache-Control", kCacheControl}}};
}

telemetry::HttpResponse Jwks(const HttpServerOptions& options,
                             const telemetry::HttpRequest& request) {
  const JwksDocument jwks = options.jwks();
  const std::string etag = Quoted(jwks.version);
  telemetry::HttpResponse response;
  response.headers = {{"Cache-Control", kCacheControl}, {"ETag", etag}};
  if (request.Header("If-None-Match") == etag) {
    response.status = 304;
    return response;
  }
  response.content_type = "application/jwk-set+json";
  response.body = jwks.json;
  return response;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options) {
  if (!options.jwks || options.metrics == nullptr) {
    return absl::InvalidArgumentError("http server needs jwks and metrics");
  }
  // The handlers share the options; they live as long as the server.
  auto shared = std::make_shared<const HttpServerOptions>(std::move(options));
  telemetry::HttpServerOptions telemetry_options;
  telemetry_options.listen = shared->listen;
  telemetry_options.metrics = shared->metrics;
  telemetry_options.routes = [shared](int port) {
    const std::string host =
        shared->listen.substr(0, shared->listen.rfind(':') + 1);
    const std::string jwks_uri = absl::StrCat(
        shared->public_url.empty() ? absl::StrCat("http://", host, port)
                                   : shared->public_url,
        kJwksPath);
    std::map<std::string, telemetry::HttpHandler> routes;
    routes[kDiscoveryPath] = [shared, jwks_uri](const telemetry::HttpRequest&) {
      return Discovery(*shared, jwks_uri);
    };
    routes[kJwksPath] = [shared](const telemetry::HttpRequest& request) {
      return Jwks(*shared, request);
    };
    return routes;
  };
  auto server = telemetry::HttpServer::Start(std::move(telemetry_options));
  if (!server.ok()) return server.status();
  return std::unique_ptr<HttpServer>(new HttpServer(*std::move(server)));
}

}  // namespace sigil::server::http
