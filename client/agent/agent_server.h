#ifndef SIGIL_CLIENT_AGENT_AGENT_SERVER_H_
#define SIGIL_CLIENT_AGENT_AGENT_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/agent/agent_service.h"
#include "client/client.h"
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
};

// sigil-agent: an SDK in local mode behind sigil.v1.Identity, with
// reflection and grpc.health.v1, whose health is NOT_SERVING while the SDK
// cannot show it is current (so a readiness probe takes the pod out) and
// SERVING again once it is.
class AgentServer {
 public:
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(
      std::shared_ptr<grpc::ChannelInterface> authority, AgentOptions options);
  void Shutdown(absl::Duration grace);
  ~AgentServer();

  int port() const { return port_; }

 private:
  static constexpr absl::Duration kHealthInterval = absl::Milliseconds(100);

  AgentServer() = default;
  void HealthLoop();

  std::unique_ptr<Client> client_;
  std::unique_ptr<AgentService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Notification stopping_;
  std::thread health_;
};

}  // namespace sigil::client::agent

#endif  // SIGIL_CLIENT_AGENT_AGENT_SERVER_H_
