#include "client/agent/agent_server.h"

#include <grpcpp/health_check_service_interface.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "wire/grpc_server.h"

namespace sigil::client::agent {

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(
    std::shared_ptr<grpc::ChannelInterface> authority, AgentOptions options) {
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
  options.client.mode = ClientOptions::Mode::kLocal;
  auto client = Client::Create(std::move(authority), options.client);
  if (!client.ok()) return client.status();
  agent->client_ = *std::move(client);
  agent->service_ = std::make_unique<AgentService>(agent->client_.get(),
                                                   options.client.system);

  auto started = wire::StartGrpcServer(options.listen, agent->service_.get(),
                                       *credentials);
  if (!started.ok()) return started.status();
  agent->server_ = std::move(started->server);
  agent->port_ = started->port;
  agent->server_->GetHealthCheckService()->SetServingStatus(
      agent->client_->IsCurrent());
  agent->health_ = std::thread([a = agent.get()] { a->HealthLoop(); });
  return agent;
}

void AgentServer::HealthLoop() {
  while (!stopping_.WaitForNotificationWithTimeout(kHealthInterval)) {
    server_->GetHealthCheckService()->SetServingStatus(client_->IsCurrent());
  }
}

void AgentServer::Shutdown(absl::Duration grace) {
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (health_.joinable()) health_.join();
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
    server_.reset();
  }
  service_.reset();
  client_.reset();
}

AgentServer::~AgentServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace sigil::client::agent
