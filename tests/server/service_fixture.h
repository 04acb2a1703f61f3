#ifndef SIGIL_TESTS_SERVER_SERVICE_FIXTURE_H_
#define SIGIL_TESTS_SERVER_SERVICE_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/sigil_server.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"

namespace sigil::server {

// An in-process authority on a real loopback port over a real RocksDB in a
// temporary directory, with a fake clock, and a client stub for it.
class ServiceTest : public ::testing::Test {
 protected:
  static constexpr absl::Duration kTtl = absl::Minutes(15);

  ServiceTest();
  void SetUp() override;

  // Starts (or restarts, after StopServer) the server on the same data dir.
  void StartServer();
  void StopServer();

  // Issue that must succeed.
  sigil::v1::IssueResponse Login(const std::string& subject,
                                 const std::vector<std::string>& systems,
                                 const std::vector<std::string>& scopes = {});
  // Verify that must succeed as an RPC; returns the response.
  sigil::v1::VerifyResponse Check(
      const std::string& token, const std::string& system,
      const std::vector<std::string>& required_scopes = {});
  sigil::v1::LogoutResponse LogoutSubject(const std::string& subject,
                                          const std::string& system);
  sigil::v1::LogoutResponse LogoutSubjectEverywhere(const std::string& subject);

  std::unique_ptr<grpc::ClientContext> Context() const;

  testing::TempDir dir_;
  token::FakeClock clock_;
  ServerOptions options_;
  std::unique_ptr<SigilServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<sigil::v1::Identity::Stub> stub_;
};

// Renders a verdict as "CODE REASON" so a failed expectation reads well.
std::string Outcome(const sigil::v1::VerifyResponse& response);

}  // namespace sigil::server

#endif  // SIGIL_TESTS_SERVER_SERVICE_FIXTURE_H_
