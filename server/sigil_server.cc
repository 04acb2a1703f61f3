#include "server/sigil_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/key_manager.h"
#include "server/log.h"
#include "wire/grpc_server.h"

namespace sigil::server {

absl::StatusOr<std::unique_ptr<SigilServer>> SigilServer::Start(
    const ServerOptions& options, const token::Clock* clock) {
  std::unique_ptr<SigilServer> server(new SigilServer());
  auto store = store::RocksStore::Open(options.data_dir, clock);
  if (!store.ok()) return store.status();
  server->store_ = *std::move(store);

  auto keys =
      KeyManager::Load(options.data_dir, options.algorithm,
                       options.authority.max_ttl, server->store_.get(), clock);
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

  auto started = wire::StartGrpcServer(options.listen, server->service_.get());
  if (!started.ok()) return started.status();
  server->server_ = std::move(started->server);
  server->port_ = started->port;
  server->server_->GetHealthCheckService()->SetServingStatus(
      sigil::v1::Identity::service_full_name(), true);
  server->pruner_ = std::thread([s = server.get(), options] {
    s->PruneLoop(options.maintenance_interval);
  });
  return server;
}

void SigilServer::PruneLoop(absl::Duration interval) {
  while (!stopping_.WaitForNotificationWithTimeout(interval)) {
    authority_->PruneExpired();
    // Retried at the next round; until then the keys stay as they were.
    absl::Status maintained = authority_->MaintainKeys();
    if (!maintained.ok()) {
      LogLine(absl::StrCat("key maintenance failed: ", maintained.message()));
    }
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
