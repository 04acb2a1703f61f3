#ifndef SIGIL_SERVER_SIGIL_SERVER_H_
#define SIGIL_SERVER_SIGIL_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/authority.h"
#include "server/http/http_server.h"
#include "server/identity_service.h"
#include "server/index_snapshot.h"
#include "server/revocation_feed.h"
#include "server/store/etcd/etcd_client.h"
#include "server/store/etcd/etcd_store.h"
#include "server/store/rocks_store.h"
#include "telemetry/metrics.h"
#include "token/algorithm.h"
#include "token/clock.h"
#include "wire/graceful_shutdown.h"
#include "wire/tls.h"

namespace sigil::server {

// Where a replica finds the etcd cluster it shares with the others.
struct EtcdStoreOptions {
  // host:port of each member.
  std::vector<std::string> endpoints;
  // Every key of this authority lives under it.
  std::string prefix = "/sigil/";
  // TLS to etcd: the CA of the members' certificates and a client
  // certificate with its key; all empty for plaintext.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

struct ServerOptions {
  // host:port (port 0 picks a free one) or unix:PATH.
  std::string listen = "127.0.0.1:50051";
  std::string data_dir = "./sigil-data";
  // The store: RocksDB in data_dir, or etcd shared by any number of
  // replicas (data_dir then holds only this replica's keys, audit log and
  // index snapshot).
  enum class StoreKind { kRocksDb, kEtcd };
  StoreKind store = StoreKind::kRocksDb;
  EtcdStoreOptions etcd;
  token::Algorithm algorithm = token::Algorithm::kES256;
  // The key-encryption key (KeyVault::FromFile): with it, new private keys
  // are sealed into the store rather than written under data_dir/keys.
  // Required with StoreKind::kEtcd, whose replicas share the keys.
  std::string kek_file;
  // With StoreKind::kEtcd: how often the keys are reread, to pick up a
  // rotation by another replica. Keys are staged a rotation period before
  // they sign, so any reload interval far below that period is safe.
  absl::Duration key_reload_interval = absl::Seconds(1);
  AuthorityOptions authority;
  // How often WatchRevocations streams get a heartbeat while idle.
  absl::Duration heartbeat_interval = absl::Milliseconds(250);
  // How often expired revocations leave memory, expired retired keys leave
  // the key set, and a due key rotation (authority.key_rotation_period)
  // happens.
  absl::Duration maintenance_interval = absl::Minutes(1);
  // TLS for the listener; with tls.ca, callers must present a certificate
  // from that CA, whose URI or DNS SANs name them to the policy.
  wire::TlsFiles tls;
  // The sigil.v1.Policy file. Empty: dev mode, everything allowed, which
  // only a local listener (or allow_insecure) accepts.
  std::string policy_file;
  // Plaintext, or dev mode, beyond loopback: for a mesh that terminates
  // mTLS in front of sigild and does its own authorization.
  bool allow_insecure = false;
  // The audit log; empty means <data_dir>/audit.log, "-" standard output.
  std::string audit_log;
  // host:port of the HTTP side (discovery, JWKS, probes, metrics); empty:
  // none. Port 0 picks a free one.
  std::string http_listen;
  // Where clients reach the HTTP side, for the discovery document's
  // jwks_uri; empty: http://<http_listen>.
  std::string public_url;
  // Snapshots of the revocation index in <data_dir>/index.snapshot, so a
  // restart loads them and replays the events after them instead of
  // scanning every revocation: one is written when this many revocations
  // were recorded since the last, or the interval passed and any was, and
  // at shutdown. A zero interval: no snapshots, every start scans.
  uint64_t index_snapshot_every_events = 100000;
  absl::Duration index_snapshot_interval = absl::Minutes(1);
};

// A running authority: the store, the keys, sigil.v1.Identity, server
// reflection and grpc.health.v1, listening on one address, and optionally
// the HTTP side (http_listen) with metrics of every call. sigild is this
// plus flags and signals; tests run it in-process on a real socket.
class SigilServer {
 public:
  // Checks the listener's security (plaintext or dev mode only on a local
  // address unless allow_insecure), opens the data dir (failing if another
  // process holds it), loads or creates the signing keys, and starts
  // serving. `clock` is not owned and
  // must outlive the server. Errors say what failed and where.
  static absl::StatusOr<std::unique_ptr<SigilServer>> Start(
      const ServerOptions& options, const token::Clock* clock);

  // Marks the HTTP side not ready, ends the revocation streams, stops
  // accepting calls, lets in-flight calls finish for up to `grace` (idle
  // connections do not hold it: wire::ShutdownGracefully), stops HTTP,
  // then closes the store.
  // Idempotent; the destructor calls it.
  void Shutdown(absl::Duration grace);
  ~SigilServer();

  // The TCP port in use (the one picked for port 0); 0 for a unix socket.
  int port() const { return port_; }
  // The HTTP port in use; 0 without http_listen.
  int http_port() const { return http_ == nullptr ? 0 : http_->port(); }
  Authority& authority() { return *authority_; }
  // Where the index snapshot is kept; empty when snapshots are off.
  const std::string& index_snapshot_path() const {
    return index_snapshot_path_;
  }

 private:
  SigilServer() = default;
  void PruneLoop(absl::Duration interval);
  // Rereads the keys every `interval` (replicas on a shared store).
  void KeyReloadLoop(absl::Duration interval);
  // The feed's, the revocation index's and the store's state, read at each
  // scrape.
  void AddStateMetrics();

  std::unique_ptr<auth::Policy> policy_;
  std::unique_ptr<auth::AuditLog> audit_;
  // With StoreKind::kEtcd: the client the store speaks through, and the
  // follower that brings every replica's revocations to the authority.
  std::unique_ptr<store::etcd::EtcdClient> etcd_;
  std::unique_ptr<store::Store> store_;
  // store_, when it is RocksDB (for its metrics).
  store::RocksStore* rocks_ = nullptr;
  std::unique_ptr<store::EtcdStore::Follower> follower_;
  std::unique_ptr<RevocationFeed> feed_;
  std::unique_ptr<Authority> authority_;
  std::string index_snapshot_path_;
  std::unique_ptr<IndexSnapshotter> snapshotter_;
  std::unique_ptr<IdentityService> service_;
  // Before the servers that feed and read it, so it outlives them.
  std::unique_ptr<telemetry::MetricsRegistry> metrics_;
  std::unique_ptr<http::HttpServer> http_;
  // Before server_, whose calls it counts until it stops.
  wire::CallTracker calls_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Notification stopping_;
  std::thread pruner_;
  // Owned by authority_; reloaded by key_reloader_ on a shared store.
  KeyManager* keys_ = nullptr;
  std::thread key_reloader_;
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_SIGIL_SERVER_H_
