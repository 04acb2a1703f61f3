// sigil-agent: the Sigil SDK as a sidecar. Flags are listed by --help.

#include <grpcpp/security/credentials.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/agent/agent_server.h"
#include "telemetry/log.h"
#include "telemetry/process_flags.h"
#include "wire/tls.h"

ABSL_FLAG(std::string, authority, "127.0.0.1:50051",
          "sigild's addresses, comma separated (replicas of one store): "
          "host:port, unix:PATH or dns:///NAME:PORT (every address the name "
          "resolves to). The revocation stream follows one and moves to the "
          "next at once when it breaks or goes silent; calls fail over too.");
ABSL_FLAG(std::string, listen, "127.0.0.1:50052",
          "Address to serve on: host:port or unix:PATH.");
ABSL_FLAG(std::string, system, "", "The system this agent verifies for.");
ABSL_FLAG(std::string, issuer, "sigil", "The issuer tokens must carry.");
ABSL_FLAG(absl::Duration, max_token_ttl, absl::Hours(24),
          "sigild's --max_token_ttl: a token whose exp - iat is longer is "
          "refused as malformed.");
ABSL_FLAG(absl::Duration, max_staleness, absl::Seconds(2),
          "How old the proof of applied revocations may be before the "
          "agent stops trusting its cache.");
ABSL_FLAG(absl::Duration, authority_deadline, absl::Seconds(2),
          "Deadline of calls to the authority, including the Verify a stale "
          "agent falls back to before answering UNAVAILABLE.");

ABSL_FLAG(std::string, authority_ca, "",
          "PEM CA that sigild's certificate must chain to; given, the agent "
          "reaches sigild over TLS.");
ABSL_FLAG(std::string, authority_cert, "",
          "PEM client certificate the agent presents to sigild (mTLS): its "
          "SAN names this system to sigild's policy.");
ABSL_FLAG(std::string, authority_key, "", "PEM key of --authority_cert.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate to serve TLS with (with --tls_key).");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls_cert.");
ABSL_FLAG(std::string, client_ca, "",
          "PEM CA that callers' certificates must chain to (mTLS).");
ABSL_FLAG(std::string, policy, "",
          "sigil.v1.Policy (the format of sigild's --policy) for the "
          "agent's own callers: certificate URI/DNS SANs, \"unix-uid:N\" for "
          "unix socket peers, \"<anonymous>\" for callers without either. "
          "Empty: Verify and GetJwks only; every forwarded call is refused.");
ABSL_FLAG(bool, allow_insecure, false,
          "Serve plaintext beyond loopback and unix sockets.");
ABSL_FLAG(std::string, http_listen, "",
          "host:port of /healthz, /readyz (503 while stale) and /metrics over "
          "plain HTTP; port 0 picks a free one. Empty: none.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the Sigil SDK as a sidecar.\n"
      "Usage: sigil-agent --system=A [--authority=127.0.0.1:50051] "
      "[--listen=unix:/run/sigil/agent.sock]");
  // --help lists the flags of files named like the program, and this one's
  // file is sigil_agent.cc, not sigil-agent: name the files outright.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::StrContains(path, "sigil_agent.cc") ||
           absl::StrContains(path, "process_flags.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  sigil::telemetry::ConfigureProcess();
  sigil::telemetry::ForwardGrpcErrors(nullptr);
  if (absl::GetFlag(FLAGS_system).empty()) {
    std::fprintf(stderr, "sigil-agent: --system is required\n");
    return 1;
  }

  // Only the sigwait below sees the stop signals (see sigild).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  sigil::client::agent::AgentOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.client.system = absl::GetFlag(FLAGS_system);
  options.client.issuer = absl::GetFlag(FLAGS_issuer);
  options.client.max_token_ttl = absl::GetFlag(FLAGS_max_token_ttl);
  options.client.max_staleness = absl::GetFlag(FLAGS_max_staleness);
  options.client.deadline = absl::GetFlag(FLAGS_authority_deadline);
  options.tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                 absl::GetFlag(FLAGS_client_ca)};
  options.allow_insecure = absl::GetFlag(FLAGS_allow_insecure);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.policy_file = absl::GetFlag(FLAGS_policy);
  auto to_authority = sigil::wire::ChannelCredentialsFor(
      {absl::GetFlag(FLAGS_authority_cert), absl::GetFlag(FLAGS_authority_key),
       absl::GetFlag(FLAGS_authority_ca)});
  if (!to_authority.ok()) {
    std::fprintf(stderr, "sigil-agent: %s\n",
                 std::string(to_authority.status().message()).c_str());
    return 1;
  }
  auto channels = sigil::client::AuthorityChannels(
      absl::GetFlag(FLAGS_authority), *to_authority);
  if (!channels.ok()) {
    std::fprintf(stderr, "sigil-agent: --authority: %s\n",
                 std::string(channels.status().message()).c_str());
    return 1;
  }
  auto agent =
      sigil::client::agent::AgentServer::Start(*std::move(channels), options);
  if (!agent.ok()) {
    std::fprintf(stderr, "sigil-agent: %s\n",
                 std::string(agent.status().message()).c_str());
    return 1;
  }
  sigil::telemetry::LogFields fields = {
      {"authority", absl::GetFlag(FLAGS_authority)},
      {"listen", options.listen},
      {"system", options.client.system}};
  if ((*agent)->port() != 0) {
    fields.push_back({"port", absl::StrCat((*agent)->port())});
  }
  if ((*agent)->http_port() != 0) {
    fields.push_back({"http_listen", options.http_listen});
    fields.push_back({"http_port", absl::StrCat((*agent)->http_port())});
  }
  sigil::telemetry::Log(
      sigil::telemetry::LogLevel::kInfo,
      absl::StrCat("sigil-agent serving ", absl::GetFlag(FLAGS_authority),
                   " on ", options.listen, " for system ",
                   options.client.system),
      fields);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  sigil::telemetry::Log(sigil::telemetry::LogLevel::kInfo,
                        "sigil-agent stopping",
                        {{"signal", absl::StrCat(signal_number)}});
  (*agent)->Shutdown(absl::Seconds(5));
  return 0;
}
