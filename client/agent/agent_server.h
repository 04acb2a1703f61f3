#ifndef SIGIL_CLIENT_AGENT_AGENT_SERVER_H_
#define SIGIL_CLIENT_AGENT_AGENT_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/agent/agent_service.h"
#include "client/agent/unix_peer.h"
#include "client/client.h"
#include "telemetry/http_server.h"
#include "telemetry/metrics.h"
#include "wire/graceful_shutdown.h"
#include "wire/tls.h"

namespace sigil::client::agent {

struct AgentOptions {
  // host:port (port 0 picks one) or unix:PATH.
  std::string listen = "127.0.0.1:50052";
  // The SDK's options: system, issuer, max_staleness, clock. The agent
  // always verifies in local mode.
  ClientOptions client;
  // TLS for the listener (with tls.ca, callers must present a certificate
  // of that CA). Without it the agent serves plaintext only on a unix
  // socket or loopback, like sigild, unless allow_insecure.
  wire::TlsFiles tls;
  bool allow_insecure = false;
  // host:port (port 0 picks one) of /healthz, /readyz and /metrics over
  // plain HTTP; empty: none.
  std::string http_listen;
  // The sigil.v1.Policy for the agent's own callers (the format of
  // sigild's --policy). Empty: no grants, so only Verify and GetJwks are
  // served and every forwarded call is PERMISSION_DENIED.
  std::string policy_file;
};

// sigil-agent: an SDK in local mode behind sigil.v1.Identity (AgentService:
// its callers authorized against options.policy_file), with
// reflection and grpc.health.v1, whose health is NOT_SERVING while the SDK
// cannot show it is current (so a readiness probe takes the pod out), or
// its unix socket stopped accepting, and SERVING again once it is. With
// http_listen, /readyz follows the same rule and /metrics counts calls,
// verdicts, the cache and the revocation stream. On a plaintext unix socket the
// agent accepts connections itself (UnixListener) so that callers are named by
// their uid.
class AgentServer {
 public:
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(
      std::shared_ptr<grpc::ChannelInterface> authority, AgentOptions options);
  // With several addresses of the authority (its replicas; see
  // Client::Create): the agent follows one and moves on at once when it
  // breaks, serving from its cache meanwhile within max_staleness.
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(
      std::vector<std::shared_ptr<grpc::ChannelInterface>> authority,
      AgentOptions options);
  void Shutdown(absl::Duration grace);
  ~AgentServer();

  int port() const { return port_; }
  // The HTTP port in use; 0 without http_listen.
  int http_port() const { return http_ == nullptr ? 0 : http_->port(); }

 private:
  static constexpr absl::Duration kHealthInterval = absl::Milliseconds(100);

  AgentServer() = default;
  void HealthLoop();
  // Serving: the SDK is current and the unix socket, if any, still
  // accepts.
  bool Ready() const;
  // The agent's own figures beside the interceptor's per-call ones.
  void AddClientMetrics();

  std::unique_ptr<Client> client_;
  std::unique_ptr<server::auth::Policy> policy_;
  std::unique_ptr<AgentService> service_;
  // Before server_ and http_, which read it until they stop.
  std::unique_ptr<telemetry::MetricsRegistry> metrics_;
  // Before server_, whose calls it counts until it stops.
  wire::CallTracker calls_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<UnixListener> unix_listener_;  // stops before server_
  std::unique_ptr<telemetry::HttpServer> http_;
  int port_ = 0;
  absl::Notification stopping_;
  std::thread health_;
};

}  // namespace sigil::client::agent

#endif  // SIGIL_CLIENT_AGENT_AGENT_SERVER_H_
