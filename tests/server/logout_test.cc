// LogoutFromSystem, LogoutAll and Revoke through the gRPC API: the
// revocation invariants of docs/design.md, seen as a relying system sees them.

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;

constexpr char kOk[] = "OK VALID";
constexpr char kLoggedOut[] = "UNAUTHENTICATED LOGGED_OUT";
constexpr char kLoggedOutAll[] = "UNAUTHENTICATED LOGGED_OUT_ALL";

using LogoutTest = ServiceTest;

TEST_F(LogoutTest, LogoutFromOneSystemLeavesTheOthersLoggedIn) {
  const std::string a = Login("u", {"A"}).access_token();
  const std::string b = Login("u", {"B"}).access_token();
  const std::string c = Login("u", {"C"}).access_token();
  EXPECT_EQ(Outcome(Check(a, "A")), kOk);
  EXPECT_EQ(Outcome(Check(b, "B")), kOk);
  EXPECT_EQ(Outcome(Check(c, "C")), kOk);
  EXPECT_EQ(Outcome(Check(a, "B")), "UNAUTHENTICATED WRONG_AUDIENCE");

  const sigil::v1::LogoutResponse out = LogoutSubject("u", "A");
  EXPECT_EQ(out.revoked_sessions(), 1);
  EXPECT_GT(out.revocation_seq(), 0u);

  EXPECT_EQ(Outcome(Check(a, "A")), kLoggedOut);
  EXPECT_EQ(Outcome(Check(b, "B")), kOk);
  EXPECT_EQ(Outcome(Check(c, "C")), kOk);
}

// Logouts arriving together share one synced write (group commit): each
// still gets its own seq and its own count, and takes effect before its
// reply; a session is counted by exactly one of the logouts that end it.
TEST_F(LogoutTest, ConcurrentLogoutsEachTakeEffectWithTheirOwnSeq) {
  constexpr int kThreads = 8;
  constexpr int kSubjectsPerThread = 6;
  std::vector<std::string> tokens;
  for (int i = 0; i < kThreads * kSubjectsPerThread; ++i) {
    tokens.push_back(Login(absl::StrCat("u", i), {"A"}).access_token());
  }
  const std::string shared = Login("shared", {"A"}).access_token();
  const std::string elsewhere = Login("shared", {"B"}).access_token();

  std::vector<std::vector<sigil::v1::LogoutResponse>> replies(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSubjectsPerThread; ++i) {
        replies[t].push_back(
            LogoutSubject(absl::StrCat("u", t * kSubjectsPerThread + i), "A"));
        EXPECT_EQ(Outcome(Check(tokens[t * kSubjectsPerThread + i], "A")),
                  kLoggedOut);
      }
      replies[t].push_back(LogoutSubject("shared", "A"));
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::set<uint64_t> seqs;
  int64_t shared_ended = 0;
  for (const auto& thread_replies : replies) {
    ASSERT_EQ(thread_replies.size(), kSubjectsPerThread + 1u);
    for (int i = 0; i < kSubjectsPerThread; ++i) {
      EXPECT_EQ(thread_replies[i].revoked_sessions(), 1);
    }
    shared_ended += thread_replies.back().revoked_sessions();
    for (const auto& reply : thread_replies) {
      EXPECT_TRUE(seqs.insert(reply.revocation_seq()).second)
          << "seq " << reply.revocation_seq() << " handed out twice";
    }
  }
  EXPECT_EQ(seqs.size(),
            static_cast<size_t>(kThreads * (kSubjectsPerThread + 1)));
  EXPECT_EQ(shared_ended, 1);
  EXPECT_EQ(Outcome(Check(shared, "A")), kLoggedOut);
  EXPECT_EQ(Outcome(Check(elsewhere, "B")), kOk);
}

TEST_F(LogoutTest, ReloginInTheSameMicrosecondAfterLogoutIsValid) {
  // The fake clock never moves: every call below happens at one instant.
  std::string token = Login("u", {"A"}).access_token();
  uint64_t last_seq = 0;
  for (int round = 0; round < 40; ++round) {
    SCOPED_TRACE(round);
    const sigil::v1::LogoutResponse out = LogoutSubject("u", "A");
    EXPECT_GT(out.revocation_seq(), last_seq);
    last_seq = out.revocation_seq();
    EXPECT_EQ(Outcome(Check(token, "A")), kLoggedOut);
    token = Login("u", {"A"}).access_token();
    EXPECT_EQ(Outcome(Check(token, "A")), kOk);
  }
}

TEST_F(LogoutTest, LogoutAllEndsEveryEarlierTokenButNotLaterOnes) {
  const std::string a = Login("u", {"A"}).access_token();
  const std::string bc = Login("u", {"B", "C"}).access_token();
  const std::string other = Login("v", {"A"}).access_token();

  const sigil::v1::LogoutResponse out = LogoutSubjectEverywhere("u");
  EXPECT_EQ(out.revoked_sessions(), 3);  // one at A, one each at B and C

  EXPECT_EQ(Outcome(Check(a, "A")), kLoggedOutAll);
  EXPECT_EQ(Outcome(Check(bc, "B")), kLoggedOutAll);
  EXPECT_EQ(Outcome(Check(bc, "C")), kLoggedOutAll);
  EXPECT_EQ(Outcome(Check(other, "A")), kOk);
  EXPECT_EQ(Outcome(Check(Login("u", {"A"}).access_token(), "A")), kOk);
}

TEST_F(LogoutTest, MultiSystemTokenIsForbiddenOnlyWhereTheUserLoggedOut) {
  const std::string abc = Login("u", {"A", "B", "C"}).access_token();
  for (const char* system : {"A", "B", "C"}) {
    EXPECT_EQ(Outcome(Check(abc, system)), kOk) << system;
  }
  EXPECT_EQ(Outcome(Check(abc, "D")), "UNAUTHENTICATED WRONG_AUDIENCE");

  LogoutSubject("u", "A");
  EXPECT_EQ(Outcome(Check(abc, "A")), "PERMISSION_DENIED LOGGED_OUT_OF_SYSTEM");
  EXPECT_EQ(Outcome(Check(abc, "B")), kOk);
  EXPECT_EQ(Outcome(Check(abc, "C")), kOk);

  // Logged out of every system it names, it authenticates nowhere.
  LogoutSubject("u", "B");
  LogoutSubject("u", "C");
  EXPECT_EQ(Outcome(Check(abc, "A")), kLoggedOut);

  LogoutSubjectEverywhere("u");
  EXPECT_EQ(Outcome(Check(abc, "B")), kLoggedOutAll);
}

TEST_F(LogoutTest, UserLogsOutWithTheirOwnToken) {
  const std::string a = Login("u", {"A"}).access_token();
  const std::string b = Login("u", {"B"}).access_token();

  sigil::v1::LogoutFromSystemRequest request;
  request.set_token(a);
  request.set_system("A");
  sigil::v1::LogoutResponse response;
  ASSERT_THAT(stub_->LogoutFromSystem(Context().get(), request, &response),
              IsOk());
  EXPECT_EQ(Outcome(Check(a, "A")), kLoggedOut);
  EXPECT_EQ(Outcome(Check(b, "B")), kOk);

  sigil::v1::LogoutAllRequest all;
  all.set_token(b);
  ASSERT_THAT(stub_->LogoutAll(Context().get(), all, &response), IsOk());
  EXPECT_EQ(Outcome(Check(b, "B")), kLoggedOutAll);
}

TEST_F(LogoutTest, TokenLogoutNeedsAnAuthenticTokenForThatSystem) {
  const std::string b = Login("u", {"B"}).access_token();
  struct Case {
    std::string name;
    std::string token;
    std::string system;
    grpc::StatusCode code;
  };
  const std::vector<Case> cases = {
      {"token of another system", b, "A", grpc::PERMISSION_DENIED},
      {"garbage", "not.a.token", "A", grpc::UNAUTHENTICATED},
      {"tampered", b.substr(0, b.size() - 2) + "AA", "B",
       grpc::UNAUTHENTICATED},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    sigil::v1::LogoutFromSystemRequest request;
    request.set_token(c.token);
    request.set_system(c.system);
    sigil::v1::LogoutResponse response;
    EXPECT_EQ(stub_->LogoutFromSystem(Context().get(), request, &response)
                  .error_code(),
              c.code);
  }
  EXPECT_EQ(Outcome(Check(b, "B")), kOk);
}

TEST_F(LogoutTest, RevokedTokenCannotLogItsSubjectOut) {
  const std::string stolen = Login("u", {"A"}).access_token();
  const std::string other = Login("u", {"B"}).access_token();
  sigil::v1::RevokeRequest revoke;
  revoke.set_token(stolen);
  sigil::v1::RevokeResponse revoked;
  ASSERT_THAT(stub_->Revoke(Context().get(), revoke, &revoked), IsOk());

  sigil::v1::LogoutAllRequest request;
  request.set_token(stolen);
  sigil::v1::LogoutResponse response;
  EXPECT_EQ(stub_->LogoutAll(Context().get(), request, &response).error_code(),
            grpc::UNAUTHENTICATED);
  EXPECT_EQ(Outcome(Check(other, "B")), kOk);
}

TEST_F(LogoutTest, TokenLoggedOutOfOneSystemCanStillLogOutEverywhere) {
  const std::string ab = Login("u", {"A", "B"}).access_token();
  LogoutSubject("u", "A");
  sigil::v1::LogoutAllRequest request;
  request.set_token(ab);
  sigil::v1::LogoutResponse response;
  ASSERT_THAT(stub_->LogoutAll(Context().get(), request, &response), IsOk());
  EXPECT_EQ(Outcome(Check(ab, "B")), kLoggedOutAll);
}

TEST_F(LogoutTest, RevocationOutlivesItsTokensWhenTheClockStepsBack) {
  const absl::Time issued = clock_.Now();
  sigil::v1::IssueRequest issue;
  issue.set_subject("u");
  issue.add_systems("A");
  issue.mutable_ttl()->set_seconds(
      absl::ToInt64Seconds(options_.authority.max_ttl));
  sigil::v1::IssueResponse token;
  ASSERT_THAT(stub_->Issue(Context().get(), issue, &token), IsOk());

  clock_.Set(issued - absl::Hours(2));
  LogoutSubject("u", "A");
  clock_.Set(issued + options_.authority.max_ttl - absl::Seconds(1));
  server_->authority().PruneExpired();
  EXPECT_EQ(Outcome(Check(token.access_token(), "A")), kLoggedOut);
}

TEST_F(LogoutTest, RevokeEndsOneTokenAndIsIdempotent) {
  const std::string first = Login("u", {"A"}).access_token();
  const std::string second = Login("u", {"A"}).access_token();
  for (int i = 0; i < 2; ++i) {
    sigil::v1::RevokeRequest request;
    request.set_token(first);
    sigil::v1::RevokeResponse response;
    ASSERT_THAT(stub_->Revoke(Context().get(), request, &response), IsOk());
  }
  EXPECT_EQ(Outcome(Check(first, "A")), "UNAUTHENTICATED TOKEN_REVOKED");
  EXPECT_EQ(Outcome(Check(second, "A")), kOk);

  // RFC 7009: an invalid token is not an error, and changes nothing.
  sigil::v1::RevokeRequest garbage;
  garbage.set_token("x.y.z");
  sigil::v1::RevokeResponse response;
  EXPECT_THAT(stub_->Revoke(Context().get(), garbage, &response), IsOk());
  EXPECT_EQ(Outcome(Check(second, "A")), kOk);
}

TEST_F(LogoutTest, RevocationsSurviveARestart) {
  const std::string a = Login("u", {"A"}).access_token();
  const std::string b = Login("u", {"B"}).access_token();
  const std::string v = Login("v", {"A"}).access_token();
  LogoutSubject("u", "A");
  LogoutSubjectEverywhere("v");

  StopServer();
  StartServer();

  EXPECT_EQ(Outcome(Check(a, "A")), kLoggedOut);
  EXPECT_EQ(Outcome(Check(b, "B")), kOk);
  EXPECT_EQ(Outcome(Check(v, "A")), kLoggedOutAll);
  // The clock has not moved: tokens issued after the restart must still be
  // ordered after the revocations issued before it.
  EXPECT_EQ(Outcome(Check(Login("u", {"A"}).access_token(), "A")), kOk);
  EXPECT_EQ(Outcome(Check(Login("v", {"A"}).access_token(), "A")), kOk);
}

TEST_F(LogoutTest, ExpiredRevocationsAreForgottenWithoutReviving) {
  const std::string a = Login("u", {"A"}).access_token();
  LogoutSubject("u", "A");
  // Past the token's expiry the verdict is EXPIRED either way, and the
  // revocation may go: nothing it covers is alive.
  clock_.Advance(options_.authority.max_ttl + absl::Seconds(1));
  server_->authority().PruneExpired();
  EXPECT_EQ(Outcome(Check(a, "A")), "UNAUTHENTICATED EXPIRED");
}

// Issue 19 finding 7: any subject could be named, and each logout cost
// ~1.6 KB of memory at sigild and every agent for max_token_ttl.
TEST_F(LogoutTest, LogoutOfASubjectWithNoLoginThereRecordsNothing) {
  Login("u", {"B"});
  const size_t before = server_->authority().live_revocations();
  for (const char* subject : {"never-seen", "u"}) {
    const sigil::v1::LogoutResponse out = LogoutSubject(subject, "A");
    EXPECT_EQ(out.revoked_sessions(), 0) << subject;
    EXPECT_EQ(out.revocation_seq(), 0u) << subject << ": no event";
  }
  EXPECT_EQ(server_->authority().live_revocations(), before);
}

TEST_F(LogoutTest, ALoginStillGetsItsLogoutUntilItsTokensCannotLive) {
  const std::string a = Login("u", {"A"}).access_token();
  const sigil::v1::LogoutResponse first = LogoutSubject("u", "A");
  EXPECT_GT(first.revocation_seq(), 0u);
  EXPECT_EQ(Outcome(Check(a, "A")), kLoggedOut);
  // Logged out already: another logout there is still recorded, since the
  // login's tokens may outlive the first one's memory.
  EXPECT_GT(LogoutSubject("u", "A").revocation_seq(), first.revocation_seq());

  // Past the session's life and the lifetime of a token refreshed at its
  // very end, there is nothing left to log out of.
  clock_.Advance(options_.authority.refresh_ttl + kTtl + absl::Seconds(1));
  EXPECT_EQ(LogoutSubject("u", "A").revocation_seq(), 0u);
}

// A login racing a logout of the same subject and system: whatever the
// order, the authority's verdict and its session list agree, and a logout
// that recorded nothing left the login valid (it counts as after it).
TEST_F(LogoutTest, ALoginRacingALogoutIsEitherCoveredOrAfterIt) {
  constexpr int kRounds = 40;
  for (int i = 0; i < kRounds; ++i) {
    const std::string subject = absl::StrCat("racer-", i);
    sigil::v1::IssueResponse issued;
    sigil::v1::LogoutResponse logout;
    std::thread login([&] { issued = Login(subject, {"A"}); });
    std::thread out([&] { logout = LogoutSubject(subject, "A"); });
    login.join();
    out.join();

    const std::string verdict = Outcome(Check(issued.access_token(), "A"));
    sigil::v1::ListSessionsRequest request;
    request.set_subject(subject);
    sigil::v1::ListSessionsResponse sessions;
    ASSERT_THAT(stub_->ListSessions(Context().get(), request, &sessions),
                IsOk());
    SCOPED_TRACE(absl::StrCat(subject, ": logout seq ", logout.revocation_seq(),
                              ", verdict ", verdict));
    EXPECT_EQ(verdict == kOk, sessions.sessions_size() == 1);
    if (logout.revocation_seq() == 0) {
      EXPECT_EQ(verdict, kOk);
    }
  }
}

}  // namespace
}  // namespace sigil::server
