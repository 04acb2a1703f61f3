// End-to-end tests of sigil-agent: one real sigild and an agent for each of
// systems A and B, all on unix sockets in a fresh directory, driven through
// the generated stubs. Covers the agent's cached verdicts, how fast a logout
// at the authority reaches an agent (the issue's 100 ms bound), and failing
// closed while the authority is stopped.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/e2e/sigil_process.h"
#include "tests/testing/temp_dir.h"

namespace sigil::e2e {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::sigil::v1::Identity;

constexpr char kSigildPath[] = SIGIL_BINARY_DIR "/server/sigild";
constexpr char kAgentPath[] = SIGIL_BINARY_DIR "/client/agent/sigil-agent";
constexpr char kIssuer[] = "https://sigil.e2e.test";
constexpr absl::Duration kMaxStaleness = absl::Seconds(1);
constexpr absl::Duration kCallDeadline = absl::Seconds(10);
// A poll's single call: short, so a hung call cannot outlast the poll.
constexpr absl::Duration kPollCallDeadline = absl::Seconds(2);
constexpr absl::Duration kRevocationBound = absl::Milliseconds(100);
constexpr absl::Duration kPollLimit = absl::Seconds(5);
constexpr int kRounds = 30;

// A Verify call's outcome: the RPC status and, when it is OK, the verdict.
struct Verified {
  grpc::Status status;
  sigil::v1::VerifyResponse response;

  bool Valid() const {
    return status.ok() && response.verdict().code() == "OK";
  }
  // "CODE REASON" of the verdict, or "RPC <code>: <message>".
  std::string Outcome() const {
    if (!status.ok()) {
      return absl::StrCat("RPC ", status.error_code(), ": ",
                          status.error_message());
    }
    return absl::StrCat(response.verdict().code(), " ",
                        sigil::v1::Reason_Name(response.verdict().reason()));
  }
};

std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

// The p-th percentile (nearest rank) of `sorted`, which is not empty.
absl::Duration Percentile(const std::vector<absl::Duration>& sorted, int p) {
  size_t rank = (sorted.size() * p + 99) / 100;
  return sorted[std::max<size_t>(rank, 1) - 1];
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string authority = sockets_.Address("sigild.sock");
    sigild_ = std::make_unique<SigilProcess>(
        kSigildPath,
        std::vector<std::string>{absl::StrCat("--listen=", authority),
                                 absl::StrCat("--data_dir=", dir_.Sub("data")),
                                 absl::StrCat("--issuer=", kIssuer)},
        authority, dir_.Sub("sigild.log"));
    ASSERT_TRUE(sigild_->Spawn());
    ASSERT_TRUE(sigild_->WaitReady());
    authority_ = Connect(authority);

    agent_a_ = NewAgent(authority, "A");
    agent_b_ = NewAgent(authority, "B");
    ASSERT_TRUE(agent_a_->Spawn());
    ASSERT_TRUE(agent_b_->Spawn());
    ASSERT_TRUE(agent_a_->WaitReady());
    ASSERT_TRUE(agent_b_->WaitReady());
    at_a_ = Connect(agent_a_->listen());
    at_b_ = Connect(agent_b_->listen());
    health_a_ = Health::NewStub(grpc::CreateChannel(
        agent_a_->listen(), grpc::InsecureChannelCredentials()));
  }

  // Stops the agents before sigild: a gRPC server's shutdown waits for its
  // connected clients, the agents' revocation streams among them. Our own
  // connections go first for the same reason.
  void TearDown() override {
    authority_.reset();
    at_a_.reset();
    at_b_.reset();
    health_a_.reset();
    if (agent_a_ != nullptr && agent_a_->running()) {
      EXPECT_EQ(agent_a_->Stop(), 0) << "agent A's exit";
    }
    if (agent_b_ != nullptr && agent_b_->running()) {
      EXPECT_EQ(agent_b_->Stop(), 0) << "agent B's exit";
    }
    if (sigild_ != nullptr && sigild_->running()) {
      // A stall test that failed half way leaves sigild stopped.
      EXPECT_TRUE(sigild_->Signal(SIGCONT));
      EXPECT_EQ(sigild_->Stop(), 0) << "sigild's exit";
    }
  }

  std::unique_ptr<SigilProcess> NewAgent(const std::string& authority,
                                         const std::string& system) {
    const std::string listen =
        sockets_.Address(absl::StrCat("agent-", system, ".sock"));
    return std::make_unique<SigilProcess>(
        kAgentPath,
        std::vector<std::string>{
            absl::StrCat("--authority=", authority),
            absl::StrCat("--listen=", listen),
            absl::StrCat("--system=", system),
            absl::StrCat("--issuer=", kIssuer),
            absl::StrCat("--max_staleness=",
                         absl::FormatDuration(kMaxStaleness))},
        listen, dir_.Sub(absl::StrCat("agent-", system, ".log")), system);
  }

  static std::unique_ptr<Identity::Stub> Connect(const std::string& target) {
    return Identity::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }

  static std::string Issue(Identity::Stub& stub, const std::string& subject,
                           const std::string& system) {
    sigil::v1::IssueRequest request;
    request.set_subject(subject);
    request.add_systems(system);
    sigil::v1::IssueResponse response;
    const grpc::Status status =
        stub.Issue(Context(kCallDeadline).get(), request, &response);
    EXPECT_TRUE(status.ok()) << "Issue " << subject << " for " << system << ": "
                             << status.error_message();
    EXPECT_FALSE(response.access_token().empty()) << "Issue " << subject;
    return response.access_token();
  }

  static Verified Verify(Identity::Stub& stub, const std::string& token,
                         const std::string& system,
                         absl::Duration deadline = kCallDeadline) {
    sigil::v1::VerifyRequest request;
    request.set_token(token);
    request.set_system(system);
    Verified verified;
    verified.status =
        stub.Verify(Context(deadline).get(), request, &verified.response);
    return verified;
  }

  // The time the authority's reply to LogoutFromSystem arrived.
  absl::Time LogoutAtAuthority(const std::string& subject,
                               const std::string& system) {
    sigil::v1::LogoutFromSystemRequest request;
    request.set_subject(subject);
    request.set_system(system);
    sigil::v1::LogoutResponse response;
    const grpc::Status status = authority_->LogoutFromSystem(
        Context(kCallDeadline).get(), request, &response);
    const absl::Time replied = absl::Now();
    EXPECT_TRUE(status.ok()) << "LogoutFromSystem " << subject << " " << system
                             << ": " << status.error_message();
    return replied;
  }

  // Agent A's overall health; UNKNOWN when the call itself failed.
  HealthCheckResponse::ServingStatus HealthOfA() {
    HealthCheckResponse response;
    const grpc::Status status = health_a_->Check(
        Context(kPollCallDeadline).get(), HealthCheckRequest(), &response);
    if (!status.ok()) return HealthCheckResponse::UNKNOWN;
    return response.status();
  }

  sigil::testing::TempDir dir_;
  // Declared before every process, so it outlives them all.
  SocketDir sockets_;
  std::unique_ptr<SigilProcess> sigild_;
  std::unique_ptr<SigilProcess> agent_a_;
  std::unique_ptr<SigilProcess> agent_b_;
  std::unique_ptr<Identity::Stub> authority_;
  std::unique_ptr<Identity::Stub> at_a_;
  std::unique_ptr<Identity::Stub> at_b_;
  std::unique_ptr<Health::Stub> health_a_;
};

TEST_F(AgentTest, AgentVerifiesOnlyForItsOwnSystem) {
  const std::string for_a = Issue(*authority_, "u", "A");
  const std::string for_b = Issue(*authority_, "u", "B");
  EXPECT_EQ(Verify(*at_a_, for_a, "A").Outcome(), "OK VALID");
  EXPECT_EQ(Verify(*at_b_, for_b, "B").Outcome(), "OK VALID");
  EXPECT_EQ(Verify(*at_a_, for_b, "A").Outcome(),
            "UNAUTHENTICATED WRONG_AUDIENCE");
  const Verified elsewhere = Verify(*at_a_, for_a, "B");
  EXPECT_EQ(elsewhere.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << elsewhere.Outcome();
}

TEST_F(AgentTest, LogoutAtTheAuthorityReachesTheAgentWithin100Ms) {
  std::vector<absl::Duration> latencies;
  for (int round = 1; round <= kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::string for_a = Issue(*authority_, "u", "A");
    const std::string for_b = Issue(*authority_, "u", "B");
    ASSERT_EQ(Verify(*at_a_, for_a, "A").Outcome(), "OK VALID");
    ASSERT_EQ(Verify(*at_b_, for_b, "B").Outcome(), "OK VALID");

    const absl::Time logged_out = LogoutAtAuthority("u", "A");
    Verified verified;
    absl::Time denied;
    do {
      verified = Verify(*at_a_, for_a, "A", kPollCallDeadline);
      denied = absl::Now();
    } while (verified.Valid() && denied < logged_out + kPollLimit);
    EXPECT_EQ(verified.Outcome(), "UNAUTHENTICATED LOGGED_OUT");
    const absl::Duration latency = denied - logged_out;
    EXPECT_LT(latency, kRevocationBound);
    latencies.push_back(latency);
    EXPECT_EQ(Verify(*at_b_, for_b, "B").Outcome(), "OK VALID");
  }

  std::sort(latencies.begin(), latencies.end());
  const absl::Duration p50 = Percentile(latencies, 50);
  const absl::Duration p99 = Percentile(latencies, 99);
  RecordProperty("revocation_latency_p50_us",
                 static_cast<int>(absl::ToInt64Microseconds(p50)));
  RecordProperty("revocation_latency_p99_us",
                 static_cast<int>(absl::ToInt64Microseconds(p99)));
  std::cout << "logout -> agent denial over " << latencies.size()
            << " rounds: p50 " << p50 << ", p99 " << p99 << "\n";
}

TEST_F(AgentTest, StoppedAuthorityMakesTheAgentFailClosedThenRecover) {
  const std::string token = Issue(*authority_, "u", "A");
  ASSERT_EQ(Verify(*at_a_, token, "A").Outcome(), "OK VALID");
  ASSERT_EQ(HealthOfA(), HealthCheckResponse::SERVING);

  ASSERT_TRUE(sigild_->Signal(SIGSTOP));
  const absl::Time stopped = absl::Now();
  HealthCheckResponse::ServingStatus health;
  absl::Time not_serving = absl::InfiniteFuture();
  Verified verified;
  do {
    health = HealthOfA();
    if (health == HealthCheckResponse::NOT_SERVING) {
      not_serving = std::min(not_serving, absl::Now());
      // Stale, the agent asks the stopped authority and waits out its 2 s
      // deadline: ours must be longer to see the agent's own answer.
      verified = Verify(*at_a_, token, "A");
    }
  } while ((health != HealthCheckResponse::NOT_SERVING || verified.Valid()) &&
           absl::Now() < stopped + kPollLimit);
  const absl::Duration until_closed = absl::Now() - stopped;
  EXPECT_EQ(health, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(verified.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << verified.Outcome();
  // The last heartbeat (every 250 ms) proves freshness for max_staleness, so
  // the cache is trusted for most of it before health turns.
  EXPECT_GE(not_serving - stopped, kMaxStaleness / 2);
  EXPECT_LT(until_closed, kPollLimit);
  std::cout << "sigild stopped -> agent NOT_SERVING in "
            << not_serving - stopped << ", Verify failed closed in "
            << until_closed << "\n";

  ASSERT_TRUE(sigild_->Signal(SIGCONT));
  const absl::Time resumed = absl::Now();
  do {
    health = HealthOfA();
    if (health == HealthCheckResponse::SERVING) {
      verified = Verify(*at_a_, token, "A", kPollCallDeadline);
    }
  } while ((health != HealthCheckResponse::SERVING || !verified.Valid()) &&
           absl::Now() < resumed + kPollLimit);
  EXPECT_EQ(health, HealthCheckResponse::SERVING);
  EXPECT_EQ(verified.Outcome(), "OK VALID");
  std::cout << "sigild resumed -> agent serving in " << absl::Now() - resumed
            << "\n";
}

}  // namespace
}  // namespace sigil::e2e
