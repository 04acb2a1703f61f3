// sigil-agent in-process: the SDK behind sigil.v1.Identity on a real
// socket, in front of an in-process authority.

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/agent/agent_server.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {
namespace {

using client::agent::AgentOptions;
using client::agent::AgentServer;
using grpc::health::v1::HealthCheckResponse;
using ::sigil::testing::IsOk;

class AgentTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    // Restarts of the authority keep its port, so the agent finds it again.
    options_.listen = absl::StrCat("127.0.0.1:", server_->port());
    AgentOptions agent_options;
    agent_options.listen = "127.0.0.1:0";
    agent_options.client.system = "A";
    agent_options.client.issuer = options_.authority.issuer;
    agent_options.client.clock = &clock_;
    // Plain loopback callers are anonymous: granted A's rights here, so that
    // forwarded calls reach the authority (agent_policy_test covers
    // refusals).
    agent_options.policy_file = dir_.Sub("agent-policy.textproto");
    std::ofstream(agent_options.policy_file)
        << "grants { principal: \"<anonymous>\" system { name: \"A\" } "
           "issuer { systems: [\"A\"] } }\n";
    auto agent = AgentServer::Start(
        grpc::CreateChannel(options_.listen,
                            grpc::InsecureChannelCredentials()),
        agent_options);
    ASSERT_THAT(agent, IsOk());
    agent_ = *std::move(agent);
    agent_channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_->port()),
                            grpc::InsecureChannelCredentials());
    agent_stub_ = sigil::v1::Identity::NewStub(agent_channel_);
    ASSERT_TRUE(AwaitHealth(HealthCheckResponse::SERVING));
  }

  void TearDown() override {
    agent_stub_.reset();
    agent_.reset();
  }

  HealthCheckResponse::ServingStatus Health() {
    auto health = grpc::health::v1::Health::NewStub(agent_channel_);
    grpc::health::v1::HealthCheckRequest request;
    HealthCheckResponse response;
    if (!health->Check(Context().get(), request, &response).ok()) {
      return HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  // Waits, bounded, for the agent's health to become `want`.
  bool AwaitHealth(HealthCheckResponse::ServingStatus want) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (Health() != want) {
      if (absl::Now() > give_up) return false;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return true;
  }

  grpc::Status AgentVerify(const std::string& token, const std::string& system,
                           sigil::v1::VerifyResponse* response) {
    sigil::v1::VerifyRequest request;
    request.set_token(token);
    request.set_system(system);
    return agent_stub_->Verify(Context().get(), request, response);
  }

  // Verifies through the agent until the verdict reads `want` (the logout
  // travels over the revocation stream), bounded.
  std::string AwaitOutcome(const std::string& token, const std::string& want) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    std::string got;
    do {
      sigil::v1::VerifyResponse response;
      grpc::Status status = AgentVerify(token, "A", &response);
      got = status.ok() ? Outcome(response) : status.error_message();
    } while (got != want && absl::Now() < give_up);
    return got;
  }

  std::unique_ptr<AgentServer> agent_;
  std::shared_ptr<grpc::Channel> agent_channel_;
  std::unique_ptr<sigil::v1::Identity::Stub> agent_stub_;
};

TEST_F(AgentTest, VerifiesLocallyAndForwardsLogouts) {
  const std::string a = Login("u", {"A"}).access_token();
  sigil::v1::VerifyResponse response;
  ASSERT_THAT(AgentVerify(a, "A", &response), IsOk());
  EXPECT_EQ(Outcome(response), "OK VALID");
  EXPECT_EQ(response.claims().subject(), "u");
  ASSERT_THAT(AgentVerify(a, "", &response), IsOk());
  EXPECT_EQ(Outcome(response), "OK VALID");

  sigil::v1::LogoutFromSystemRequest logout;
  logout.set_subject("u");
  logout.set_system("A");
  sigil::v1::LogoutResponse out;
  ASSERT_THAT(agent_stub_->LogoutFromSystem(Context().get(), logout, &out),
              IsOk());
  EXPECT_EQ(AwaitOutcome(a, "UNAUTHENTICATED LOGGED_OUT"),
            "UNAUTHENTICATED LOGGED_OUT");
}

TEST_F(AgentTest, ForwardsRefreshAndItsReuseDetection) {
  const sigil::v1::IssueResponse login = Login("u", {"A"});
  sigil::v1::RefreshRequest request;
  request.set_refresh_token(login.refresh_token());
  sigil::v1::IssueResponse refreshed;
  ASSERT_THAT(agent_stub_->Refresh(Context().get(), request, &refreshed),
              IsOk());
  sigil::v1::VerifyResponse response;
  ASSERT_THAT(AgentVerify(refreshed.access_token(), "A", &response), IsOk());
  EXPECT_EQ(Outcome(response), "OK VALID");

  clock_.Advance(options_.authority.refresh_grace + absl::Seconds(1));
  sigil::v1::IssueResponse replayed;
  EXPECT_EQ(
      agent_stub_->Refresh(Context().get(), request, &replayed).error_code(),
      grpc::UNAUTHENTICATED);
  // The session's end reaches the agent's cache over the stream.
  EXPECT_EQ(
      AwaitOutcome(refreshed.access_token(), "UNAUTHENTICATED SESSION_REVOKED"),
      "UNAUTHENTICATED SESSION_REVOKED");
}

TEST_F(AgentTest, RejectsTokensAndRequestsForOtherSystems) {
  sigil::v1::VerifyResponse response;
  ASSERT_THAT(AgentVerify(Login("u", {"B"}).access_token(), "A", &response),
              IsOk());
  EXPECT_EQ(Outcome(response), "UNAUTHENTICATED WRONG_AUDIENCE");
  EXPECT_EQ(AgentVerify(Login("u", {"B"}).access_token(), "B", &response)
                .error_code(),
            grpc::INVALID_ARGUMENT);
}

TEST_F(AgentTest, ServesTheAuthoritysKeySet) {
  sigil::v1::GetJwksResponse from_agent, from_authority;
  ASSERT_THAT(agent_stub_->GetJwks(Context().get(), sigil::v1::GetJwksRequest(),
                                   &from_agent),
              IsOk());
  ASSERT_THAT(stub_->GetJwks(Context().get(), sigil::v1::GetJwksRequest(),
                             &from_authority),
              IsOk());
  EXPECT_EQ(from_agent.jwks_json(), from_authority.jwks_json());
}

TEST_F(AgentTest, VerifiesTokensOfRotatedKeys) {
  const std::string before = Login("u", {"A"}).access_token();
  for (int rotation = 1; rotation <= 2; ++rotation) {
    SCOPED_TRACE(absl::StrCat("rotation ", rotation));
    sigil::v1::KeysResponse keys;
    ASSERT_THAT(stub_->RotateKeys(Context().get(),
                                  sigil::v1::RotateKeysRequest(), &keys),
                IsOk());
    // The agent serves the key set its SDK holds: once it names the new
    // version, the SDK has the upcoming key. The fake clock stands still,
    // so an unknown kid could not refetch it.
    sigil::v1::GetJwksResponse authority, agent;
    ASSERT_THAT(stub_->GetJwks(Context().get(), sigil::v1::GetJwksRequest(),
                               &authority),
                IsOk());
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    do {
      ASSERT_THAT(agent_stub_->GetJwks(Context().get(),
                                       sigil::v1::GetJwksRequest(), &agent),
                  IsOk());
    } while (agent.key_set_version() != authority.key_set_version() &&
             absl::Now() < give_up);
    EXPECT_EQ(agent.jwks_json(), authority.jwks_json());

    sigil::v1::VerifyResponse response;
    ASSERT_THAT(AgentVerify(Login("u", {"A"}).access_token(), "A", &response),
                IsOk());
    EXPECT_EQ(Outcome(response), "OK VALID");
    ASSERT_THAT(AgentVerify(before, "A", &response), IsOk());
    EXPECT_EQ(Outcome(response), "OK VALID");
  }
}

TEST_F(AgentTest, NotServingWhileStaleAndServingOnceCaughtUp) {
  const std::string a = Login("u", {"A"}).access_token();
  StopServer();
  clock_.Advance(absl::Seconds(3));
  EXPECT_TRUE(AwaitHealth(HealthCheckResponse::NOT_SERVING));
  sigil::v1::VerifyResponse response;
  EXPECT_EQ(AgentVerify(a, "A", &response).error_code(), grpc::UNAVAILABLE);

  StartServer();
  EXPECT_TRUE(AwaitHealth(HealthCheckResponse::SERVING));
  EXPECT_EQ(AwaitOutcome(a, "OK VALID"), "OK VALID");
}

}  // namespace
}  // namespace sigil::server
