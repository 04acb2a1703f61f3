#include "client/agent/agent_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sigil::client::agent {

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(
    std::shared_ptr<grpc::ChannelInterface> authority, AgentOptions options) {
  std::unique_ptr<AgentServer> agent(new AgentServer());
  options.client.mode = ClientOptions::Mode::kLocal;
  auto client = Client::Create(std::move(authority), options.client);
  if (!client.ok()) return client.status();
  agent->client_ = *std::move(client);
  agent->service_ = std::make_unique<AgentService>(agent->client_.get(),
                                                   options.client.system);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int selected_port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &selected_port);
  builder.RegisterService(agent->service_.get());
  agent->server_ = builder.BuildAndStart();
  const bool unix_socket = absl::StartsWith(options.listen, "unix:");
  if (agent->server_ == nullptr || (selected_port == 0 && !unix_socket)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", options.listen,
                     " (address in use, not permitted, or malformed)"));
  }
  agent->port_ = unix_socket ? 0 : selected_port;
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
