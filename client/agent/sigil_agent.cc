// sigil-agent: the Sigil SDK as a sidecar. Flags are listed by --help.

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "client/agent/agent_server.h"

ABSL_FLAG(std::string, authority, "127.0.0.1:50051",
          "sigild address: host:port or unix:PATH.");
ABSL_FLAG(std::string, listen, "127.0.0.1:50052",
          "Address to serve on: host:port or unix:PATH.");
ABSL_FLAG(std::string, system, "", "The system this agent verifies for.");
ABSL_FLAG(std::string, issuer, "sigil", "The issuer tokens must carry.");
ABSL_FLAG(absl::Duration, max_staleness, absl::Seconds(2),
          "How old the proof of applied revocations may be before the "
          "agent stops trusting its cache.");
ABSL_FLAG(absl::Duration, authority_deadline, absl::Seconds(2),
          "Deadline of calls to the authority, including the Verify a stale "
          "agent falls back to before answering UNAVAILABLE.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the Sigil SDK as a sidecar.\n"
      "Usage: sigil-agent --system=A [--authority=127.0.0.1:50051] "
      "[--listen=unix:/run/sigil/agent.sock]");
  absl::ParseCommandLine(argc, argv);
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
  options.client.max_staleness = absl::GetFlag(FLAGS_max_staleness);
  options.client.deadline = absl::GetFlag(FLAGS_authority_deadline);
  auto agent = sigil::client::agent::AgentServer::Start(
      grpc::CreateChannel(absl::GetFlag(FLAGS_authority),
                          grpc::InsecureChannelCredentials()),
      options);
  if (!agent.ok()) {
    std::fprintf(stderr, "sigil-agent: %s\n",
                 std::string(agent.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "sigil-agent serving %s on %s for system %s\n",
               absl::GetFlag(FLAGS_authority).c_str(), options.listen.c_str(),
               options.client.system.c_str());
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*agent)->Shutdown(absl::Seconds(5));
  return 0;
}
