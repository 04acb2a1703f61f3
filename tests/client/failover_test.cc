// sigil::Client over several addresses of one authority, and read-your-
// logout (VerifyOptions.min_seq), against in-process authorities on real
// sockets. Two authorities cannot share one RocksDB data dir, so the second
// runs on a copy of the first's, made while it was stopped: the same store
// id, keys and seqs, as a replica has.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"
#include "token/reason.h"

namespace sigil::server {
namespace {

using client::AuthorityChannels;
using client::Client;
using client::ClientOptions;
using client::VerifyOptions;
using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::Duration kWaitLimit = absl::Seconds(10);

template <typename F>
bool Eventually(F done) {
  const absl::Time give_up = absl::Now() + kWaitLimit;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// A loopback port nothing listens on (bound, then released).
int DeadPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

class FailoverTest : public ServiceTest {
 protected:
  std::unique_ptr<Client> Connect(const std::string& addresses) {
    ClientOptions options;
    options.system = "A";
    options.issuer = options_.authority.issuer;
    options.clock = &clock_;
    auto channels =
        AuthorityChannels(addresses, grpc::InsecureChannelCredentials());
    EXPECT_THAT(channels, IsOk()) << addresses;
    if (!channels.ok()) return nullptr;
    auto client = Client::Create(*std::move(channels), options);
    EXPECT_THAT(client, IsOk()) << addresses;
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::string Here() const {
    return absl::StrCat("127.0.0.1:", server_->port());
  }
};

TEST_F(FailoverTest, StreamMovesToTheNextAddressWithoutAReset) {
  const std::string token = Login("u", {"A"}).access_token();
  Login("gone", {"A"});
  ASSERT_EQ(LogoutSubject("gone", "A").revocation_seq(), 1u);
  StopServer();
  std::filesystem::copy(dir_.Sub("data"), dir_.Sub("replica"),
                        std::filesystem::copy_options::recursive);
  std::filesystem::remove(dir_.Sub("replica/LOCK"));
  StartServer();
  ServerOptions replica_options = options_;
  replica_options.data_dir = dir_.Sub("replica");
  auto replica = SigilServer::Start(replica_options, &clock_);
  ASSERT_THAT(replica, IsOk());
  const std::string there = absl::StrCat("127.0.0.1:", (*replica)->port());

  auto client = Connect(absl::StrCat(Here(), ",", there));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(Eventually([&] { return client->applied_seq() == 1; }));
  ASSERT_THAT(client->Verify(token), IsOk());
  const Client::Stats before = client->stats();

  // The first address stops; only the second can bring the next logout.
  StopServer();
  auto replica_stub = sigil::v1::Identity::NewStub(
      grpc::CreateChannel(there, grpc::InsecureChannelCredentials()));
  sigil::v1::LogoutFromSystemRequest logout;
  logout.set_subject("u");
  logout.set_system("A");
  sigil::v1::LogoutResponse logged_out;
  ASSERT_THAT(
      replica_stub->LogoutFromSystem(Context().get(), logout, &logged_out),
      IsOk());
  ASSERT_EQ(logged_out.revocation_seq(), 2u);
  ASSERT_TRUE(Eventually([&] { return client->applied_seq() == 2; }))
      << "applied seq " << client->applied_seq();

  EXPECT_THAT(client->Verify(token),
              StatusIs(absl::StatusCode::kUnauthenticated));
  const Client::Stats after = client->stats();
  // Resumed after seq 1: only the new event came (a reset replays both).
  EXPECT_EQ(after.revocation_events_applied,
            before.revocation_events_applied + 1);
  // The cache was kept: the token was a hit, then found revoked.
  EXPECT_EQ(after.cache.misses, before.cache.misses);
  EXPECT_GT(after.cache.hits, before.cache.hits);
  EXPECT_TRUE(client->IsCurrent());
}

TEST_F(FailoverTest, StartsAndCallsPastADeadFirstAddress) {
  auto client = Connect(absl::StrCat("127.0.0.1:", DeadPort(), " , ", Here()));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(Eventually([&] { return client->IsCurrent(); }));
  sigil::v1::IssueRequest issue;
  issue.set_subject("u");
  issue.add_systems("A");
  auto issued = client->Issue(issue);
  ASSERT_THAT(issued, IsOk());
  EXPECT_THAT(client->Verify(issued->access_token()), IsOk());
}

TEST_F(FailoverTest, AnEmptyAddressIsRefused) {
  EXPECT_THAT(
      AuthorityChannels(absl::StrCat(Here(), ",,"),
                        grpc::InsecureChannelCredentials()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty entry")));
}

TEST_F(FailoverTest, VerifyWithMinSeqWaitsForThatLogout) {
  auto client = Connect(Here());
  ASSERT_NE(client, nullptr);
  const std::string token = Login("u", {"A"}).access_token();
  ASSERT_TRUE(Eventually([&] { return client->IsCurrent(); }));
  ASSERT_EQ(client->applied_seq(), 0u);

  VerifyOptions wait;
  wait.min_seq = 1;
  wait.deadline = absl::Now() + kWaitLimit;
  auto verdict = std::async(std::launch::async,
                            [&] { return client->Verify(token, {}, wait); });
  // Without the wait the token is still valid: an OK now would be stale.
  EXPECT_EQ(verdict.wait_for(std::chrono::milliseconds(300)),
            std::future_status::timeout);
  ASSERT_EQ(LogoutSubject("u", "A").revocation_seq(), 1u);
  const absl::StatusOr<client::VerifiedToken> result = verdict.get();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(token::ReasonOf(result.status()), token::Reason::kLoggedOut);
}

TEST_F(FailoverTest, VerifyWithAMinSeqThatNeverComesIsUnavailable) {
  auto client = Connect(Here());
  ASSERT_NE(client, nullptr);
  const std::string token = Login("u", {"A"}).access_token();
  ASSERT_TRUE(Eventually([&] { return client->IsCurrent(); }));
  VerifyOptions wait;
  wait.min_seq = 1000;
  const absl::Time start = absl::Now();
  wait.deadline = start + absl::Milliseconds(500);
  EXPECT_THAT(client->Verify(token, {}, wait),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("revocation seq 1000")));
  // It waited (until shortly before the deadline), rather than refuse.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(400));
}

TEST_F(FailoverTest, VerifyWithMinSeqZeroOrReachedAnswersAtOnce) {
  auto client = Connect(Here());
  ASSERT_NE(client, nullptr);
  const std::string token = Login("u", {"A"}).access_token();
  ASSERT_TRUE(Eventually([&] { return client->IsCurrent(); }));
  VerifyOptions none;
  none.deadline = absl::Now();  // no time to wait, and none needed
  EXPECT_THAT(client->Verify(token, {}, none), IsOk());
  Login("other", {"A"});
  const uint64_t seq = LogoutSubject("other", "A").revocation_seq();
  ASSERT_TRUE(Eventually([&] { return client->applied_seq() >= seq; }));
  VerifyOptions reached;
  reached.min_seq = seq;
  reached.deadline = absl::Now();
  EXPECT_THAT(client->Verify(token, {}, reached), IsOk());
}

}  // namespace
}  // namespace sigil::server
