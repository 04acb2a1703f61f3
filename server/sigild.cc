// sigild: the Sigil authority. Flags are listed by --help.

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "server/sigil_server.h"
#include "telemetry/log.h"
#include "telemetry/process_flags.h"
#include "token/algorithm.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "Address to serve on: host:port or unix:PATH.");
ABSL_FLAG(std::string, data_dir, "./sigil-data",
          "Directory of the embedded RocksDB store and the signing keys.");
ABSL_FLAG(std::string, issuer, "sigil", "The iss claim of issued tokens.");
ABSL_FLAG(absl::Duration, token_ttl, absl::Minutes(15),
          "Lifetime of an access token when Issue names none.");
ABSL_FLAG(absl::Duration, max_token_ttl, absl::Hours(24),
          "Longest lifetime Issue grants; do not lower it while older tokens "
          "are alive.");
ABSL_FLAG(absl::Duration, refresh_idle_ttl, absl::Hours(24),
          "A session ends when not refreshed for this long.");
ABSL_FLAG(absl::Duration, refresh_ttl, absl::Hours(24 * 7),
          "A session ends this long after its Issue, refreshed or not.");
ABSL_FLAG(absl::Duration, refresh_grace, absl::Seconds(2),
          "A spent refresh token presented again within this long gets the "
          "same successor; later, it ends the session as reuse.");
ABSL_FLAG(std::string, alg, "ES256",
          "Signing algorithm of a newly generated key: ES256, EdDSA or RS256.");
ABSL_FLAG(absl::Duration, key_rotation_period, absl::ZeroDuration(),
          "Rotate the signing keys once the active key has signed this long "
          "(checked every minute, counted across restarts); 0 never.");
ABSL_FLAG(std::string, kek_file, "",
          "File of exactly 32 random bytes (openssl rand -out kek 32): the "
          "key-encryption key that seals new private keys into the store "
          "instead of files under --data_dir. Required with --store=etcd.");
ABSL_FLAG(absl::Duration, key_reload_interval, absl::Seconds(1),
          "With --store=etcd: how often the keys other replicas rotated are "
          "reread.");
ABSL_FLAG(uint64_t, verified_cache_size, 100000,
          "How many tokens with verified signatures Verify remembers (until "
          "their exp), so that it checks each signature once.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain to serve TLS with (with --tls_key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, client_ca, "",
          "PEM CA that callers' certificates must chain to (mTLS); their URI "
          "or DNS SANs name them to --policy.");
ABSL_FLAG(std::string, policy, "",
          "sigil.v1.Policy file (text format, or JSON for .json): who may "
          "call what. Without it only a loopback or unix listener starts, "
          "allowing everything (dev mode).");
ABSL_FLAG(bool, allow_insecure, false,
          "Serve plaintext, or without --policy, beyond loopback: only behind "
          "a mesh that terminates mTLS and authorizes callers itself.");
ABSL_FLAG(std::string, audit_log, "",
          "Audit log of state changes, one JSON line each; default "
          "<data_dir>/audit.log, - for standard output.");
ABSL_FLAG(std::string, http_listen, "",
          "host:port of the HTTP side: /.well-known/openid-configuration, "
          "/.well-known/jwks.json, /healthz, /readyz, /metrics. Empty: none.");
ABSL_FLAG(std::string, public_url, "",
          "Where clients reach --http_listen (scheme://host[:port]), for the "
          "discovery document's jwks_uri; default http://<--http_listen>.");
ABSL_FLAG(absl::Duration, index_snapshot_interval, absl::Minutes(1),
          "Write a snapshot of the revocation index (<data_dir>/"
          "index.snapshot) this often when revocations were recorded, and at "
          "shutdown, so a restart replays only the events after it; 0: no "
          "snapshots, every start scans all revocations.");
ABSL_FLAG(uint64_t, index_snapshot_every_events, 100000,
          "Also write the index snapshot once this many revocations were "
          "recorded since the last one; 0: by time only.");
ABSL_FLAG(std::string, store, "rocksdb",
          "rocksdb: the embedded store in --data_dir, one sigild. etcd: the "
          "cluster of --etcd_endpoints, shared by any number of sigild "
          "replicas.");
ABSL_FLAG(std::string, etcd_endpoints, "",
          "With --store=etcd: host:port of each etcd member, comma-separated.");
ABSL_FLAG(std::string, etcd_prefix, "/sigil/",
          "With --store=etcd: the key prefix of this authority's data.");
ABSL_FLAG(std::string, etcd_ca, "",
          "With --store=etcd: PEM CA of the etcd members' certificates "
          "(enables TLS to etcd).");
ABSL_FLAG(std::string, etcd_cert, "",
          "With --store=etcd: PEM client certificate for etcd.");
ABSL_FLAG(std::string, etcd_key, "", "PEM private key of --etcd_cert.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "How long in-flight calls may run after SIGTERM or SIGINT.");

namespace {

using sigil::telemetry::Log;
using sigil::telemetry::LogLevel;

// gRPC's own multi-line reports of a failed bind would bury the one line
// sigild prints about it; after start-up they are kept, as one line each.
std::atomic<bool> g_starting{true};

int Fail(const std::string& message) {
  std::fprintf(stderr, "sigild: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the Sigil authority: issues JWTs and pushes revocations.\n"
      "Usage: sigild [--listen=127.0.0.1:50051] [--data_dir=./sigil-data]");
  absl::ParseCommandLine(argc, argv);
  sigil::telemetry::ConfigureProcess();

  auto alg = sigil::token::ParseAlgorithm(absl::GetFlag(FLAGS_alg));
  if (!alg.ok()) {
    return Fail(absl::StrCat("--alg must be ES256, EdDSA or RS256, not \"",
                             absl::GetFlag(FLAGS_alg), "\""));
  }

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only the sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  sigil::server::ServerOptions options;
  const std::string store = absl::GetFlag(FLAGS_store);
  if (store == "etcd") {
    options.store = sigil::server::ServerOptions::StoreKind::kEtcd;
    options.etcd.endpoints = absl::StrSplit(absl::GetFlag(FLAGS_etcd_endpoints),
                                            ',', absl::SkipWhitespace());
    if (options.etcd.endpoints.empty()) {
      return Fail("--store=etcd needs --etcd_endpoints");
    }
    options.etcd.prefix = absl::GetFlag(FLAGS_etcd_prefix);
    options.etcd.ca_file = absl::GetFlag(FLAGS_etcd_ca);
    options.etcd.cert_file = absl::GetFlag(FLAGS_etcd_cert);
    options.etcd.key_file = absl::GetFlag(FLAGS_etcd_key);
  } else if (store != "rocksdb") {
    return Fail(
        absl::StrCat("--store must be rocksdb or etcd, not \"", store, "\""));
  }
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.algorithm = *alg;
  options.authority.issuer = absl::GetFlag(FLAGS_issuer);
  options.authority.default_ttl = absl::GetFlag(FLAGS_token_ttl);
  options.authority.max_ttl = absl::GetFlag(FLAGS_max_token_ttl);
  options.tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                 absl::GetFlag(FLAGS_client_ca)};
  options.policy_file = absl::GetFlag(FLAGS_policy);
  options.allow_insecure = absl::GetFlag(FLAGS_allow_insecure);
  options.audit_log = absl::GetFlag(FLAGS_audit_log);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.public_url = absl::GetFlag(FLAGS_public_url);
  options.authority.refresh_idle_ttl = absl::GetFlag(FLAGS_refresh_idle_ttl);
  options.authority.refresh_ttl = absl::GetFlag(FLAGS_refresh_ttl);
  options.authority.refresh_grace = absl::GetFlag(FLAGS_refresh_grace);
  options.authority.key_rotation_period =
      absl::GetFlag(FLAGS_key_rotation_period);
  options.kek_file = absl::GetFlag(FLAGS_kek_file);
  options.key_reload_interval = absl::GetFlag(FLAGS_key_reload_interval);
  options.authority.verified_cache_capacity =
      absl::GetFlag(FLAGS_verified_cache_size);
  options.index_snapshot_interval =
      absl::GetFlag(FLAGS_index_snapshot_interval);
  options.index_snapshot_every_events =
      absl::GetFlag(FLAGS_index_snapshot_every_events);

  sigil::telemetry::ForwardGrpcErrors([] { return g_starting.load(); });
  auto server =
      sigil::server::SigilServer::Start(options, &sigil::token::RealClock());
  if (!server.ok()) return Fail(std::string(server.status().message()));
  g_starting.store(false);
  // The message keeps the ports readable in text; JSON readers take the
  // fields.
  sigil::telemetry::LogFields fields = {{"listen", options.listen}};
  if ((*server)->port() != 0) {
    fields.push_back({"port", absl::StrCat((*server)->port())});
  }
  if ((*server)->http_port() != 0) {
    fields.push_back({"http_listen", options.http_listen});
    fields.push_back({"http_port", absl::StrCat((*server)->http_port())});
  }
  fields.push_back({"data_dir", options.data_dir});
  fields.push_back({"issuer", options.authority.issuer});
  Log(LogLevel::kInfo,
      absl::StrCat("sigild serving on ", options.listen,
                   (*server)->port() != 0
                       ? absl::StrCat(" (port ", (*server)->port(), ")")
                       : "",
                   (*server)->http_port() != 0
                       ? absl::StrCat(" http ", options.http_listen, " (port ",
                                      (*server)->http_port(), ")")
                       : ""),
      fields);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log(LogLevel::kInfo, "sigild stopping; draining calls",
      {{"signal", absl::StrCat(signal_number)}});
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  Log(LogLevel::kInfo, "sigild stopped; store closed");
  return 0;
}
