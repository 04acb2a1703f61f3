#include "server/sigil_server.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/key_manager.h"
#include "server/key_vault.h"
#include "server/store/data_dir.h"
#include "telemetry/log.h"
#include "telemetry/rpc_metrics.h"
#include "token/algorithm.h"
#include "wire/grpc_server.h"

namespace sigil::server {
namespace {

http::JwksDocument JwksDocumentOf(const KeySnapshot& keys) {
  http::JwksDocument document;
  document.json = keys.public_keys.ToJwksJson();
  document.version = keys.version;
  for (const token::PublicKey& key : keys.public_keys.keys()) {
    std::string alg(token::AlgorithmName(key.algorithm()));
    if (std::find(document.algorithms.begin(), document.algorithms.end(),
                  alg) == document.algorithms.end()) {
      document.algorithms.push_back(std::move(alg));
    }
  }
  return document;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SigilServer>> SigilServer::Start(
    const ServerOptions& options, const token::Clock* clock) {
  std::unique_ptr<SigilServer> server(new SigilServer());
  auto credentials = wire::ServerCredentialsFor(options.tls);
  if (!credentials.ok()) return credentials.status();
  const bool local = wire::IsLocalAddress(options.listen);
  if (options.tls.cert.empty() && !local && !options.allow_insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve plaintext on ", options.listen,
        ": give --tls_cert and --tls_key (and --client_ca to know callers), "
        "listen on loopback or a unix socket, or pass --allow_insecure when a "
        "mesh terminates mTLS in front of sigild"));
  }
  bool dev_mode = false;
  if (!options.policy_file.empty() && options.tls.ca.empty()) {
    return absl::FailedPreconditionError(
        "--policy needs --client_ca: the policy knows callers only by their "
        "client certificates");
  }
  if (!options.policy_file.empty()) {
    auto policy =
        auth::Policy::Load(options.policy_file, auth::Policy::Reader::kSigild);
    if (!policy.ok()) return policy.status();
    server->policy_ = std::make_unique<auth::Policy>(*std::move(policy));
  } else if (local || options.allow_insecure) {
    server->policy_ = std::make_unique<auth::Policy>(auth::Policy::AllowAll());
    dev_mode = true;
    telemetry::Log(telemetry::LogLevel::kWarning,
                   "no --policy: dev mode, every caller may call everything",
                   {{"listen", options.listen}});
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "--policy is required to serve on ", options.listen,
        " (only a loopback or unix socket listener runs without one)"));
  }

  store::EtcdStore* etcd_store = nullptr;
  if (options.store == ServerOptions::StoreKind::kEtcd) {
    // Still this replica's: keys, audit log, index snapshot.
    absl::Status created = store::CreateDataDir(options.data_dir);
    if (!created.ok()) return created;
    store::etcd::EtcdClientOptions client_options;
    client_options.endpoints = options.etcd.endpoints;
    client_options.ca_file = options.etcd.ca_file;
    client_options.cert_file = options.etcd.cert_file;
    client_options.key_file = options.etcd.key_file;
    auto client = store::etcd::EtcdClient::Create(client_options);
    if (!client.ok()) return client.status();
    server->etcd_ = *std::move(client);
    store::EtcdStore::Options store_options;
    store_options.prefix = options.etcd.prefix;
    auto store =
        store::EtcdStore::Open(server->etcd_.get(), clock, store_options);
    if (!store.ok()) return store.status();
    etcd_store = store->get();
    server->store_ = *std::move(store);
  } else {
    auto store = store::RocksStore::Open(options.data_dir, clock);
    if (!store.ok()) return store.status();
    server->rocks_ = store->get();
    server->store_ = *std::move(store);
  }

  std::unique_ptr<const KeyVault> vault;
  if (!options.kek_file.empty()) {
    auto opened = KeyVault::FromFile(options.kek_file);
    if (!opened.ok()) return opened.status();
    vault = *std::move(opened);
  } else if (etcd_store != nullptr) {
    // Replicas share the keys through the store, and a private key goes
    // there only sealed.
    return absl::FailedPreconditionError(
        "--store=etcd needs --kek_file (32 random bytes, the same file at "
        "every replica): private keys are shared through etcd only sealed "
        "under it");
  }
  auto keys = KeyManager::Load(options.data_dir, options.algorithm,
                               options.authority.max_ttl, server->store_.get(),
                               clock, std::move(vault));
  if (!keys.ok()) return keys.status();
  server->keys_ = keys->get();
  server->feed_ = std::make_unique<RevocationFeed>(server->store_.get(),
                                                   options.heartbeat_interval);
  AuthorityOptions authority_options = options.authority;
  // Other replicas record revocations too: all reach the index through the
  // follower, in seq order.
  authority_options.followed = etcd_store != nullptr;
  if (options.index_snapshot_interval > absl::ZeroDuration()) {
    server->index_snapshot_path_ = options.data_dir + "/index.snapshot";
    authority_options.index_snapshot = server->index_snapshot_path_;
  }
  auto authority =
      Authority::Create(authority_options, server->store_.get(), clock,
                        *std::move(keys), server->feed_.get());
  if (!authority.ok()) return authority.status();
  server->authority_ = *std::move(authority);
  if (etcd_store != nullptr) {
    auto follower =
        etcd_store->Follow(server->authority_->applied_seq(),
                           [authority = server->authority_.get()](
                               std::vector<token::Revocation> events) {
                             authority->ApplyFollowed(std::move(events));
                           });
    if (!follower.ok()) return follower.status();
    server->follower_ = *std::move(follower);
  }
  if (!server->index_snapshot_path_.empty()) {
    const IndexLoad& load = server->authority_->index_load();
    server->snapshotter_ = std::make_unique<IndexSnapshotter>(
        &server->authority_->index(), server->store_->Id(), clock,
        IndexSnapshotter::Options{server->index_snapshot_path_,
                                  options.index_snapshot_every_events,
                                  options.index_snapshot_interval},
        load.from_snapshot ? load.snapshot_seq : 0);
  }
  // After the store: its lock, not the log, says the data dir is in use.
  auto audit = auth::AuditLog::Open(options.audit_log.empty()
                                        ? options.data_dir + "/audit.log"
                                        : options.audit_log,
                                    clock);
  if (!audit.ok()) return audit.status();
  server->audit_ = *std::move(audit);
  server->metrics_ = std::make_unique<telemetry::MetricsRegistry>();
  server->AddStateMetrics();
  telemetry::Histogram* propagation_lag = server->metrics_->GetHistogram(
      "sigil_watch_propagation_seconds",
      "From a revocation's record to its write on a WatchRevocations stream "
      "that was following live (replays after a reconnect are not counted).",
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
       2.5});
  server->service_ = std::make_unique<IdentityService>(
      server->authority_.get(), server->feed_.get(), clock,
      Access{server->policy_.get(), dev_mode, server->audit_.get()},
      propagation_lag);
  server->metrics_->AddCallback(
      "sigil_on_behalf_of_ignored_total",
      "Calls whose sigil-on-behalf-of header was ignored: not from a "
      "principal the policy marks as an agent, or not in the escaped form.",
      /*counter=*/true, [service = server->service_.get()] {
        return static_cast<double>(service->ignored_on_behalf_of());
      });
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<telemetry::RpcMetricsInterceptorFactory>(
          server->metrics_.get()));
  interceptors.push_back(server->calls_.InterceptorFactory());
  auto started = wire::StartGrpcServer(options.listen, server->service_.get(),
                                       *credentials, wire::GrpcServerLimits(),
                                       std::move(interceptors));
  if (!started.ok()) return started.status();
  server->server_ = std::move(started->server);
  server->port_ = started->port;
  server->server_->GetHealthCheckService()->SetServingStatus(
      sigil::v1::Identity::service_full_name(), true);
  if (!options.http_listen.empty()) {
    http::HttpServerOptions http_options;
    http_options.listen = options.http_listen;
    http_options.issuer = options.authority.issuer;
    http_options.public_url = options.public_url;
    http_options.metrics = server->metrics_.get();
    http_options.jwks = [authority = server->authority_.get()] {
      return JwksDocumentOf(*authority->keys());
    };
    auto http = http::HttpServer::Start(std::move(http_options));
    if (!http.ok()) return http.status();
    server->http_ = *std::move(http);
  }
  server->pruner_ = std::thread([s = server.get(), options] {
    s->PruneLoop(options.maintenance_interval);
  });
  if (etcd_store != nullptr &&
      options.key_reload_interval > absl::ZeroDuration()) {
    server->key_reloader_ =
        std::thread([s = server.get(), interval = options.key_reload_interval] {
          s->KeyReloadLoop(interval);
        });
  }
  return server;
}

void SigilServer::AddStateMetrics() {
  RevocationFeed* feed = feed_.get();
  const uint64_t first_seq = feed->last_seq();
  metrics_->AddCallback(
      "sigil_revocations_recorded_total",
      "Revocations recorded (logouts, revoked tokens and sessions) since "
      "start.",
      /*counter=*/true, [feed, first_seq] {
        return static_cast<double>(feed->last_seq() - first_seq);
      });
  metrics_->AddCallback(
      "sigil_revocation_last_seq",
      "Seq of the latest revocation in the store; subscribers compare it "
      "with what they applied.",
      /*counter=*/false,
      [feed] { return static_cast<double>(feed->last_seq()); });
  metrics_->AddCallback(
      "sigil_watch_subscribers", "Open WatchRevocations streams.",
      /*counter=*/false,
      [feed] { return static_cast<double>(feed->subscriber_count()); });
  metrics_->AddCallback(
      "sigil_revocations_live",
      "Revocations held in the in-memory index (each still covers a token "
      "that has not expired, until the next prune).",
      /*counter=*/false, [authority = authority_.get()] {
        return static_cast<double>(authority->live_revocations());
      });
  // RocksDB's estimates, read at each scrape.
  const store::RocksStore* store = rocks_;
  if (store == nullptr) return;
  const struct {
    const char* name;
    const char* help;
    uint64_t store::RocksStore::Stats::*field;
  } rocksdb_figures[] = {
      {"sigil_rocksdb_live_data_bytes", "RocksDB's estimate of live data.",
       &store::RocksStore::Stats::live_data_bytes},
      {"sigil_rocksdb_sst_file_bytes", "Size of all RocksDB table files.",
       &store::RocksStore::Stats::sst_file_bytes},
      {"sigil_rocksdb_memtable_bytes", "Size of RocksDB's memtables.",
       &store::RocksStore::Stats::memtable_bytes},
      {"sigil_rocksdb_pending_compaction_bytes",
       "Bytes RocksDB estimates compaction still has to rewrite.",
       &store::RocksStore::Stats::pending_compaction_bytes},
      {"sigil_rocksdb_estimated_keys", "RocksDB's estimate of its keys.",
       &store::RocksStore::Stats::estimated_keys},
  };
  for (const auto& figure : rocksdb_figures) {
    metrics_->AddCallback(
        figure.name, figure.help, /*counter=*/false,
        [store, field = figure.field] {
          return static_cast<double>(store->GetStats().*field);
        });
  }
}

void SigilServer::PruneLoop(absl::Duration interval) {
  while (!stopping_.WaitForNotificationWithTimeout(interval)) {
    authority_->PruneExpired();
    // Retried at the next round; until then the keys stay as they were.
    absl::Status maintained = authority_->MaintainKeys();
    if (!maintained.ok()) {
      telemetry::Log(telemetry::LogLevel::kError, "key maintenance failed",
                     {{"error", std::string(maintained.message())}});
    }
  }
}

void SigilServer::KeyReloadLoop(absl::Duration interval) {
  while (!stopping_.WaitForNotificationWithTimeout(interval)) {
    auto reloaded = keys_->Reload();
    if (!reloaded.ok()) {
      // The keys stay as they were; retried at the next round.
      telemetry::Log(telemetry::LogLevel::kError, "key reload failed",
                     {{"error", std::string(reloaded.status().message())}});
    } else if (*reloaded) {
      // Streams carry the new key_set_version, so verifiers fetch the JWKS.
      feed_->Beat();
    }
  }
}

void SigilServer::Shutdown(absl::Duration grace) {
  if (http_ != nullptr) http_->SetNotReady();
  // Streams first: gRPC's Shutdown waits for every call, and a revocation
  // stream never ends by itself.
  if (service_ != nullptr) service_->BeginShutdown();
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->Shutdown();
    wire::ShutdownGracefully(*server_, calls_, grace);
    server_->Wait();
    server_.reset();
  }
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (pruner_.joinable()) pruner_.join();
  if (key_reloader_.joinable()) key_reloader_.join();
  // Before the snapshot and the authority it feeds.
  follower_.reset();
  // No call runs any more: the last snapshot holds every logout, and the
  // next start replays nothing.
  if (snapshotter_ != nullptr) snapshotter_->Stop();
  snapshotter_.reset();
  http_.reset();
  service_.reset();
  audit_.reset();
  authority_.reset();
  feed_.reset();
  rocks_ = nullptr;
  store_.reset();
  etcd_.reset();
}

SigilServer::~SigilServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace sigil::server
