// logout_latency: times LogoutFromSystem for a subject holding many
// sessions, against a real sigild in dev mode (bench/scale.sh). Issues
// --sessions tokens for one subject at systems A and B, then --rounds
// times: one more Issue, then one timed LogoutFromSystem at A. The first
// round ends every session; later ones end only the re-issued one, while
// the subject still holds all its sessions at B. A subject with one session
// gives the baseline. An untimed logout of another subject comes first (see
// below). Logout cost is designed to be bounded by the
// subject's systems, not its sessions. Prints one JSON object.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sigil/v1/identity.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "The sigild, HOST:PORT.");
ABSL_FLAG(int, sessions, 10000, "Sessions the subject holds.");
ABSL_FLAG(int, rounds, 5, "Timed logouts.");

namespace {

namespace v1 = sigil::v1;

bool Issue(v1::Identity::Stub& stub, const std::string& subject) {
  v1::IssueRequest request;
  request.set_subject(subject);
  request.add_systems("A");
  request.add_systems("B");
  v1::IssueResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub.Issue(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "Issue: %s\n", status.error_message().c_str());
  }
  return status.ok();
}

// The latency in milliseconds, or a negative value on failure.
double TimedLogout(v1::Identity::Stub& stub, const std::string& subject,
                   int64_t* ended) {
  v1::LogoutFromSystemRequest request;
  request.set_system("A");
  request.set_subject(subject);
  v1::LogoutResponse response;
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  grpc::Status status = stub.LogoutFromSystem(&context, request, &response);
  const absl::Duration took = absl::Now() - start;
  if (!status.ok()) {
    std::fprintf(stderr, "LogoutFromSystem: %s\n",
                 status.error_message().c_str());
    return -1;
  }
  *ended = response.revoked_sessions();
  return absl::ToDoubleMilliseconds(took);
}

// Rounds of re-issue and logout; a JSON array of {ms, ended}.
bool Rounds(v1::Identity::Stub& stub, const std::string& subject, int rounds,
            std::string* json) {
  std::vector<std::string> items;
  for (int i = 0; i < rounds; ++i) {
    if (i > 0 && !Issue(stub, subject)) return false;
    int64_t ended = 0;
    const double ms = TimedLogout(stub, subject, &ended);
    if (ms < 0) return false;
    items.push_back(
        absl::StrCat("{\"ms\": ", ms, ", \"revoked_sessions\": ", ended, "}"));
  }
  *json = absl::StrCat("[", absl::StrJoin(items, ", "), "]");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "logout_latency --target=HOST:PORT: LogoutFromSystem latency for a "
      "subject with --sessions sessions, against a dev-mode sigild");
  absl::ParseCommandLine(argc, argv);
  const int sessions = absl::GetFlag(FLAGS_sessions);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_target),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Identity::NewStub(channel);

  const std::string subject = "scale-many-sessions";
  const absl::Time start = absl::Now();
  for (int i = 0; i < sessions; ++i) {
    if (!Issue(*stub, subject)) return 1;
  }
  const double issue_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  // Sessions are written unsynced, so the next synced write also flushes
  // their WAL. An untimed logout of another subject pays for that, so the
  // timed ones pay only their own write.
  int64_t ignored = 0;
  if (TimedLogout(*stub, "scale-flush", &ignored) < 0) return 1;

  std::string many;
  if (!Rounds(*stub, subject, rounds, &many)) return 1;
  const std::string single = "scale-one-session";
  if (!Issue(*stub, single)) return 1;
  std::string one;
  if (!Rounds(*stub, single, rounds, &one)) return 1;

  std::printf(
      "{\"sessions\": %d, \"issue_seconds\": %.3f, \"many\": %s, "
      "\"one\": %s}\n",
      sessions, issue_seconds, many.c_str(), one.c_str());
  return 0;
}
