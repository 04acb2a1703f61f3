#include "server/sigil_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "server/key_manager.h"

namespace sigil::server {
namespace {

constexpr absl::Duration kPruneInterval = absl::Minutes(1);

}  // namespace

absl::StatusOr<std::unique_ptr<SigilServer>> SigilServer::Start(
    const ServerOptions& options, const token::Clock* clock) {
  std::unique_ptr<SigilServer> server(new SigilServer());
  auto store = store::RocksStore::Open(options.data_dir, clock);
  if (!store.ok()) return store.status();
  server->store_ = *std::move(store);

  auto keys = KeyManager::Load(options.data_dir, options.algorithm,
                               server->store_.get(), clock);
  if (!keys.ok()) return keys.status();
  server->feed_ = std::make_unique<RevocationFeed>(server->store_.get(),
                                                   options.heartbeat_interval);
  auto authority =
      Authority::Create(options.authority, server->store_.get(), clock,
                        *std::move(keys), server->feed_.get());
  if (!authority.ok()) return authority.status();
  server->authority_ = *std::move(authority);
  server->service_ = std::make_unique<IdentityService>(
      server->authority_.get(), server->feed_.get(), clock);

  // gRPC's built-in health service carries no descriptor; touching the
  // generated one links it in, so reflection clients (grpcurl, buf curl
  // --list-methods) can describe grpc.health.v1.Health too.
  grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Without this a second server could bind the same port and split the
  // traffic silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int selected_port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &selected_port);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr ||
      (selected_port == 0 && !absl::StartsWith(options.listen, "unix:"))) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", options.listen,
                     " (address in use, not permitted, or malformed)"));
  }
  server->port_ = absl::StartsWith(options.listen, "unix:") ? 0 : selected_port;
  server->server_->GetHealthCheckService()->SetServingStatus(
      sigil::v1::Identity::service_full_name(), true);
  server->pruner_ = std::thread([s = server.get()] { s->PruneLoop(); });
  return server;
}

void SigilServer::PruneLoop() {
  while (!stopping_.WaitForNotificationWithTimeout(kPruneInterval)) {
    authority_->PruneExpired();
  }
}

void SigilServer::Shutdown(absl::Duration grace) {
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
    server_.reset();
  }
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (pruner_.joinable()) pruner_.join();
  service_.reset();
  authority_.reset();
  feed_.reset();
  store_.reset();
}

SigilServer::~SigilServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace sigil::server
