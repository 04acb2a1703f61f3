#include "client/agent/agent_server.h"

#include <grpcpp/health_check_service_interface.h>

#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "telemetry/log.h"
#include "telemetry/rpc_metrics.h"
#include "wire/grpc_server.h"

namespace sigil::client::agent {

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(
    std::shared_ptr<grpc::ChannelInterface> authority, AgentOptions options) {
  std::vector<std::shared_ptr<grpc::ChannelInterface>> channels;
  channels.push_back(std::move(authority));
  return Start(std::move(channels), std::move(options));
}

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(
    std::vector<std::shared_ptr<grpc::ChannelInterface>> authority,
    AgentOptions options) {
  std::unique_ptr<AgentServer> agent(new AgentServer());
  auto credentials = wire::ServerCredentialsFor(options.tls);
  if (!credentials.ok()) return credentials.status();
  if (options.tls.cert.empty() && !wire::IsLocalAddress(options.listen) &&
      !options.allow_insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve plaintext on ", options.listen,
        ": listen on a unix socket or loopback (the pod's own), give "
        "--tls_cert and --tls_key, or pass --allow_insecure"));
  }
  if (options.policy_file.empty()) {
    telemetry::Log(telemetry::LogLevel::kInfo, "no --policy",
                   {{"serves", "Verify and GetJwks only"},
                    {"refuses", "every forwarded call"}});
    agent->policy_ =
        std::make_unique<server::auth::Policy>(server::auth::Policy::DenyAll());
  } else {
    auto policy = server::auth::Policy::Load(
        options.policy_file, server::auth::Policy::Reader::kAgent);
    if (!policy.ok()) return policy.status();
    agent->policy_ = std::make_unique<server::auth::Policy>(*std::move(policy));
  }
  options.client.mode = ClientOptions::Mode::kLocal;
  auto client = Client::Create(std::move(authority), options.client);
  if (!client.ok()) return client.status();
  agent->client_ = *std::move(client);
  agent->service_ = std::make_unique<AgentService>(
      agent->client_.get(), agent->policy_.get(), options.client.system);
  agent->metrics_ = std::make_unique<telemetry::MetricsRegistry>();
  agent->AddClientMetrics();

  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<telemetry::RpcMetricsInterceptorFactory>(
          agent->metrics_.get()));
  interceptors.push_back(agent->calls_.InterceptorFactory());
  // A plaintext unix socket is accepted here, not by gRPC, so that calls
  // can be attributed to the peer's uid.
  const bool own_unix_socket =
      absl::StartsWith(options.listen, "unix:") && options.tls.cert.empty();
  if (own_unix_socket) {
    auto listener = UnixListener::Listen(
        options.listen.substr(std::string_view("unix:").size()));
    if (!listener.ok()) return listener.status();
    agent->unix_listener_ = *std::move(listener);
    UnixListener* const unix_listener = agent->unix_listener_.get();
    agent->metrics_->AddCallback(
        "sigil_agent_unix_connections_open",
        "Unix socket connections handed to the server and not seen closed.",
        /*counter=*/false, [unix_listener] {
          return static_cast<double>(unix_listener->open_connections());
        });
    agent->metrics_->AddCallback(
        "sigil_agent_unix_connections_refused_total",
        "Unix socket connections closed at once: the total or per-uid cap "
        "was reached.",
        /*counter=*/true, [unix_listener] {
          return static_cast<double>(unix_listener->refused());
        });
    agent->metrics_->AddCallback(
        "sigil_agent_unix_handshake_timeouts_total",
        "Unix socket connections closed for sending nothing within the "
        "handshake timeout (10 s).",
        /*counter=*/true, [unix_listener] {
          return static_cast<double>(unix_listener->timed_out());
        });
  }
  auto started = wire::StartGrpcServer(
      own_unix_socket ? "" : options.listen, agent->service_.get(),
      *credentials, wire::GrpcServerLimits(), std::move(interceptors));
  if (!started.ok()) return started.status();
  agent->server_ = std::move(started->server);
  agent->port_ = started->port;
  if (agent->unix_listener_ != nullptr) {
    agent->unix_listener_->Serve(agent->server_.get());
  }
  agent->server_->GetHealthCheckService()->SetServingStatus(agent->Ready());

  if (!options.http_listen.empty()) {
    telemetry::HttpServerOptions http_options;
    http_options.listen = options.http_listen;
    http_options.metrics = agent->metrics_.get();
    http_options.ready = [a = agent.get()] { return a->Ready(); };
    auto http = telemetry::HttpServer::Start(std::move(http_options));
    if (!http.ok()) return http.status();
    agent->http_ = *std::move(http);
  }
  agent->health_ = std::thread([a = agent.get()] { a->HealthLoop(); });
  return agent;
}

void AgentServer::AddClientMetrics() {
  Client* const client = client_.get();
  telemetry::MetricsRegistry& metrics = *metrics_;
  metrics.AddCallback(
      "sigil_agent_cache_entries", "Verdicts held in the cache.",
      /*counter=*/false,
      [client] { return static_cast<double>(client->stats().cache.size); });
  metrics.AddCallback(
      "sigil_agent_cache_hits_total", "Verifies answered from the cache.",
      /*counter=*/true,
      [client] { return static_cast<double>(client->stats().cache.hits); });
  metrics.AddCallback(
      "sigil_agent_cache_misses_total",
      "Verifies of tokens not in the cache (verified, then cached).",
      /*counter=*/true,
      [client] { return static_cast<double>(client->stats().cache.misses); });
  metrics.AddCallback(
      "sigil_agent_staleness_seconds",
      "Seconds, on the agent's monotonic clock, since the send time of the "
      "newest probe sigild echoed after every event it held; past "
      "--max_staleness it is not ready.",
      /*counter=*/false,
      [client] { return absl::ToDoubleSeconds(client->stats().staleness); });
  metrics.AddCallback("sigil_agent_current",
                      "1 while the agent can show it is current (ready), "
                      "else 0.",
                      /*counter=*/false,
                      [client] { return client->stats().current ? 1.0 : 0.0; });
  metrics.AddCallback(
      "sigil_agent_revocation_events_applied_total",
      "Revocation events applied from the authority's stream.",
      /*counter=*/true, [client] {
        return static_cast<double>(client->stats().revocation_events_applied);
      });
  metrics.AddCallback(
      "sigil_agent_revocation_applied_seq",
      "The highest revocation seq applied.", /*counter=*/false,
      [client] { return static_cast<double>(client->stats().applied_seq); });
  metrics.AddInfoCallback(
      "sigil_agent_key_set_info",
      "The authority's key_set_version of the key set the agent verifies "
      "with.",
      [client] {
        return telemetry::Labels{
            {"key_set_version", client->stats().key_set_version}};
      });
}

bool AgentServer::Ready() const {
  return client_->IsCurrent() &&
         (unix_listener_ == nullptr || unix_listener_->accepting());
}

void AgentServer::HealthLoop() {
  bool was_current = client_->IsCurrent();
  while (!stopping_.WaitForNotificationWithTimeout(kHealthInterval)) {
    const bool current = client_->IsCurrent();
    server_->GetHealthCheckService()->SetServingStatus(Ready());
    if (current != was_current) {
      if (current) {
        telemetry::Log(telemetry::LogLevel::kInfo,
                       "current: verifying from the cache");
      } else {
        telemetry::Log(
            telemetry::LogLevel::kWarning,
            "stale: no proof of applied revocations within max_staleness; "
            "not serving, asking the authority",
            {{"staleness", absl::FormatDuration(client_->stats().staleness)}});
      }
      was_current = current;
    }
  }
}

void AgentServer::Shutdown(absl::Duration grace) {
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (health_.joinable()) health_.join();
  if (http_ != nullptr) http_->SetNotReady();
  if (unix_listener_ != nullptr) unix_listener_->Stop();
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->Shutdown();
    wire::ShutdownGracefully(*server_, calls_, grace);
    server_->Wait();
    server_.reset();
  }
  http_.reset();
  unix_listener_.reset();
  service_.reset();
  client_.reset();
}

AgentServer::~AgentServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace sigil::client::agent
