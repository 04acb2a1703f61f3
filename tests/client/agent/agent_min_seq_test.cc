// Read-your-logout at sigil-agent, in-process on a real socket in front of
// an in-process authority: a Verify whose min_seq the agent has not applied
// waits for it up to the call's deadline, then answers UNAVAILABLE, never
// a stale OK; min_seq 0 answers as before.

#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/agent/agent_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {
namespace {

using client::agent::AgentOptions;
using client::agent::AgentServer;
using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::HasSubstr;

class AgentMinSeqTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    AgentOptions agent_options;
    agent_options.listen = "127.0.0.1:0";
    agent_options.client.system = "A";
    agent_options.client.issuer = options_.authority.issuer;
    agent_options.client.clock = &clock_;
    auto agent = AgentServer::Start(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()),
        agent_options);
    ASSERT_THAT(agent, IsOk());
    agent_ = *std::move(agent);
    agent_stub_ = sigil::v1::Identity::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_->port()),
                            grpc::InsecureChannelCredentials()));
    token_ = Login("u", {"A"}).access_token();
    // Current, so that the answers below come from the agent's own state.
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    grpc::Status status;
    do {
      sigil::v1::VerifyResponse response;
      status = AgentVerify(0, absl::Seconds(2), &response);
    } while (!status.ok() && absl::Now() < give_up);
    ASSERT_THAT(status, IsOk());
  }

  void TearDown() override {
    agent_stub_.reset();
    agent_.reset();
  }

  grpc::Status AgentVerify(uint64_t min_seq, absl::Duration deadline,
                           sigil::v1::VerifyResponse* response) {
    sigil::v1::VerifyRequest request;
    request.set_token(token_);
    request.set_system("A");
    request.set_min_seq(min_seq);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    return agent_stub_->Verify(&context, request, response);
  }

  std::unique_ptr<AgentServer> agent_;
  std::unique_ptr<sigil::v1::Identity::Stub> agent_stub_;
  std::string token_;
};

TEST_F(AgentMinSeqTest, WaitsForTheSeqAndAnswersWithTheLogoutApplied) {
  sigil::v1::VerifyResponse response;
  auto call = std::async(std::launch::async, [&] {
    return AgentVerify(1, absl::Seconds(10), &response);
  });
  // Nothing at seq 1 yet: the agent holds the call rather than say OK.
  EXPECT_EQ(call.wait_for(std::chrono::milliseconds(300)),
            std::future_status::timeout);
  ASSERT_EQ(LogoutSubject("u", "A").revocation_seq(), 1u);
  ASSERT_THAT(call.get(), IsOk());
  EXPECT_EQ(Outcome(response), "UNAUTHENTICATED LOGGED_OUT");
}

TEST_F(AgentMinSeqTest, AnswersUnavailableAtTheDeadlineWhenTheSeqNeverComes) {
  sigil::v1::VerifyResponse response;
  const absl::Time start = absl::Now();
  EXPECT_THAT(AgentVerify(1000, absl::Seconds(1), &response),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("revocation seq 1000")));
  // It waited, until shortly before the deadline (so the caller reads
  // UNAVAILABLE, not DEADLINE_EXCEEDED).
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(800));
}

TEST_F(AgentMinSeqTest, MinSeqZeroAnswersAsBefore) {
  sigil::v1::VerifyResponse response;
  ASSERT_THAT(AgentVerify(0, absl::Seconds(2), &response), IsOk());
  EXPECT_EQ(Outcome(response), "OK VALID");
}

}  // namespace
}  // namespace sigil::server
