// sigil_consumer: verifies one token with the Sigil SDK, as a subsystem
// built against an installed Sigil would.
//
//   sigil_consumer ADDRESS SYSTEM TOKEN [ISSUER]
//
// ADDRESS is sigild's (or a sigil-agent's) host:port or unix:PATH, reached
// in plaintext. Prints the verdict ("OK VALID subject=alice", or
// "UNAUTHENTICATED BAD_SIGNATURE: ..."). Exit status: 0 when the verdict
// is OK, 3 when it is not, 1 when there is no verdict (the authority is
// unreachable), 2 for a usage error.

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "client/client.h"
#include "token/reason.h"

namespace {

constexpr int kNoVerdict = 1;
constexpr int kUsage = 2;
constexpr int kNotOk = 3;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s ADDRESS SYSTEM TOKEN [ISSUER]\n", argv[0]);
    return kUsage;
  }
  sigil::client::ClientOptions options;
  options.system = argv[2];
  if (argc == 5) options.issuer = argv[4];
  auto client = sigil::client::Client::Create(
      grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()),
      options);
  if (!client.ok()) {
    std::fprintf(stderr, "sigil_consumer: %s\n",
                 client.status().ToString().c_str());
    return kNoVerdict;
  }
  auto verified = (*client)->Verify(argv[3]);
  if (verified.ok()) {
    std::printf("OK VALID subject=%s\n", verified->claims().subject.c_str());
    return 0;
  }
  const absl::Status& status = verified.status();
  if (status.code() != absl::StatusCode::kUnauthenticated &&
      status.code() != absl::StatusCode::kPermissionDenied) {
    std::fprintf(stderr, "sigil_consumer: no verdict: %s\n",
                 status.ToString().c_str());
    return kNoVerdict;
  }
  std::printf(
      "%s %s: %s\n", absl::StatusCodeToString(status.code()).c_str(),
      std::string(sigil::token::ReasonName(sigil::token::ReasonOf(status)))
          .c_str(),
      std::string(status.message()).c_str());
  return kNotOk;
}
