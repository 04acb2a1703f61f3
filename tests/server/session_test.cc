// Sessions and refresh tokens through the gRPC edge: rotation, reuse
// detection, the grace window, lifetimes, logouts and listing.

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using sigil::v1::IssueResponse;

class SessionTest : public ServiceTest {
 protected:
  SessionTest() {
    options_.authority.refresh_idle_ttl = absl::Hours(1);
    options_.authority.refresh_ttl = absl::Hours(8);
    options_.authority.refresh_grace = absl::Seconds(2);
  }

  grpc::Status Refresh(const std::string& refresh_token,
                       IssueResponse* response) {
    sigil::v1::RefreshRequest request;
    request.set_refresh_token(refresh_token);
    return stub_->Refresh(Context().get(), request, response);
  }

  // A refresh that must succeed.
  IssueResponse Refreshed(const std::string& refresh_token) {
    IssueResponse response;
    grpc::Status status = Refresh(refresh_token, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::StatusCode RefreshCode(const std::string& refresh_token) {
    IssueResponse response;
    return Refresh(refresh_token, &response).error_code();
  }

  std::vector<sigil::v1::Session> Sessions(const std::string& subject) {
    sigil::v1::ListSessionsRequest request;
    request.set_subject(subject);
    sigil::v1::ListSessionsResponse response;
    grpc::Status status =
        stub_->ListSessions(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.sessions().begin(), response.sessions().end()};
  }

  void Revoke(const std::string& token) {
    sigil::v1::RevokeRequest request;
    request.set_token(token);
    sigil::v1::RevokeResponse response;
    grpc::Status status = stub_->Revoke(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
};

TEST_F(SessionTest, IssueReturnsAnOpaqueRefreshTokenThatRotates) {
  const IssueResponse login = Login("alice", {"A"}, {"orders.read"});
  ASSERT_EQ(login.refresh_token().size(), 43u);
  EXPECT_EQ(login.refresh_token().find('.'), std::string::npos);

  clock_.Advance(absl::Minutes(1));
  const IssueResponse next = Refreshed(login.refresh_token());
  EXPECT_NE(next.refresh_token(), login.refresh_token());
  EXPECT_EQ(next.session_id(), login.session_id());
  EXPECT_NE(next.token_id(), login.token_id());
  EXPECT_EQ(Outcome(Check(next.access_token(), "A", {"orders.read"})),
            "OK VALID");
  // The old access token stays valid until it expires: rotation is about
  // refresh tokens.
  EXPECT_EQ(Outcome(Check(login.access_token(), "A")), "OK VALID");
}

TEST_F(SessionTest, ReuseAfterTheGraceWindowEndsTheWholeSession) {
  const IssueResponse login = Login("alice", {"A", "B"});
  const IssueResponse second = Refreshed(login.refresh_token());
  const IssueResponse third = Refreshed(second.refresh_token());
  clock_.Advance(absl::Seconds(3));

  // A thief replays the first refresh token.
  EXPECT_EQ(RefreshCode(login.refresh_token()),
            grpc::StatusCode::UNAUTHENTICATED);
  // The whole family is dead, newest included, and every access token of
  // the session is refused at every system.
  EXPECT_EQ(RefreshCode(third.refresh_token()),
            grpc::StatusCode::UNAUTHENTICATED);
  for (const IssueResponse* issued : {&login, &second, &third}) {
    for (const char* system : {"A", "B"}) {
      SCOPED_TRACE(absl::StrCat(issued->token_id(), " at ", system));
      EXPECT_EQ(Outcome(Check(issued->access_token(), system)),
                "UNAUTHENTICATED SESSION_REVOKED");
    }
  }
  EXPECT_TRUE(Sessions("alice").empty());
  // Another session of the same subject is untouched.
  const IssueResponse other = Login("alice", {"A"});
  EXPECT_EQ(Outcome(Check(other.access_token(), "A")), "OK VALID");
  EXPECT_EQ(RefreshCode(other.refresh_token()), grpc::StatusCode::OK);
}

TEST_F(SessionTest, ARetryWithinTheGraceWindowGetsTheSameSuccessor) {
  const IssueResponse login = Login("alice", {"A"});
  const IssueResponse first = Refreshed(login.refresh_token());
  clock_.Advance(absl::Seconds(1));
  const IssueResponse retry = Refreshed(login.refresh_token());
  EXPECT_EQ(retry.refresh_token(), first.refresh_token());
  EXPECT_EQ(Outcome(Check(retry.access_token(), "A")), "OK VALID");
  // Nothing was ended: the successor keeps working.
  EXPECT_EQ(RefreshCode(first.refresh_token()), grpc::StatusCode::OK);
}

TEST_F(SessionTest, RefreshAfterLogoutIsUnauthenticated) {
  struct Case {
    const char* name;
    std::vector<std::string> systems;
    std::function<void(const IssueResponse&)> logout;
    grpc::StatusCode want;
    std::vector<std::string> refreshed_systems;
  };
  const Case cases[] = {
      {"logout from its only system",
       {"A"},
       [this](const IssueResponse&) { LogoutSubject("u", "A"); },
       grpc::StatusCode::UNAUTHENTICATED,
       {}},
      {"logout everywhere",
       {"A", "B"},
       [this](const IssueResponse&) { LogoutSubjectEverywhere("u"); },
       grpc::StatusCode::UNAUTHENTICATED,
       {}},
      {"refresh token revoked",
       {"A", "B"},
       [this](const IssueResponse& login) { Revoke(login.refresh_token()); },
       grpc::StatusCode::UNAUTHENTICATED,
       {}},
      // The session lives on at B only: a refreshed token must not bring
      // the user back into A.
      {"logout from one of two systems",
       {"A", "B"},
       [this](const IssueResponse&) { LogoutSubject("u", "A"); },
       grpc::StatusCode::OK,
       {"B"}},
      {"logout at a system it never had",
       {"A"},
       [this](const IssueResponse&) { LogoutSubject("u", "C"); },
       grpc::StatusCode::OK,
       {"A"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const IssueResponse login = Login("u", c.systems);
    c.logout(login);
    IssueResponse refreshed;
    EXPECT_EQ(Refresh(login.refresh_token(), &refreshed).error_code(), c.want);
    if (c.want == grpc::StatusCode::OK) {
      const sigil::v1::VerifyResponse at_a =
          Check(refreshed.access_token(), "A");
      const bool has_a =
          std::find(c.refreshed_systems.begin(), c.refreshed_systems.end(),
                    "A") != c.refreshed_systems.end();
      EXPECT_EQ(Outcome(at_a),
                has_a ? "OK VALID" : "UNAUTHENTICATED WRONG_AUDIENCE");
      EXPECT_EQ(std::vector<std::string>(at_a.claims().audience().begin(),
                                         at_a.claims().audience().end()),
                has_a ? c.refreshed_systems : std::vector<std::string>{});
    }
    // Every case starts from a clean subject.
    LogoutSubjectEverywhere("u");
    clock_.Advance(absl::Milliseconds(1));
  }
}

TEST_F(SessionTest, IdleAndAbsoluteLifetimesEndSessions) {
  const IssueResponse idle = Login("alice", {"A"});
  IssueResponse kept = Login("alice", {"A"});
  // Refreshed every 59 minutes, up to 7 h 52 min after the Issue.
  for (int i = 0; i < 8; ++i) {
    clock_.Advance(absl::Minutes(59));
    kept = Refreshed(kept.refresh_token());
  }
  EXPECT_EQ(RefreshCode(idle.refresh_token()),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_EQ(Sessions("alice").size(), 1u);
  // Refreshed all along, the session still ends 8 hours after its Issue.
  clock_.Advance(absl::Minutes(9));
  EXPECT_EQ(RefreshCode(kept.refresh_token()),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Sessions("alice").empty());
}

TEST_F(SessionTest, ListSessionsShowsLiveSessionsWithTheirSystems) {
  const absl::Time start = clock_.Now();
  const IssueResponse ab = Login("alice", {"A", "B"}, {"orders.read"});
  clock_.Advance(absl::Minutes(1));
  const IssueResponse c = Login("alice", {"C"});
  Login("bob", {"A"});
  clock_.Advance(absl::Minutes(1));
  Refreshed(c.refresh_token());
  LogoutSubject("alice", "A");

  std::vector<sigil::v1::Session> sessions = Sessions("alice");
  ASSERT_EQ(sessions.size(), 2u);
  std::sort(sessions.begin(), sessions.end(), [](const auto& x, const auto& y) {
    return x.created().seconds() < y.created().seconds();
  });
  EXPECT_EQ(sessions[0].session_id(), ab.session_id());
  EXPECT_EQ(sessions[0].subject(), "alice");
  EXPECT_EQ(std::vector<std::string>(sessions[0].systems().begin(),
                                     sessions[0].systems().end()),
            std::vector<std::string>{"B"});
  EXPECT_EQ(sessions[0].scopes_size(), 1);
  EXPECT_EQ(sessions[0].created().seconds(), absl::ToUnixSeconds(start));
  EXPECT_FALSE(sessions[0].has_last_refreshed());
  EXPECT_EQ(sessions[0].expires_at().seconds(),
            absl::ToUnixSeconds(start + absl::Hours(8)));
  EXPECT_EQ(sessions[0].idle_expires_at().seconds(),
            absl::ToUnixSeconds(start + absl::Hours(1)));
  EXPECT_EQ(sessions[1].session_id(), c.session_id());
  EXPECT_EQ(sessions[1].last_refreshed().seconds(),
            absl::ToUnixSeconds(start + absl::Minutes(2)));
  EXPECT_EQ(sessions[1].idle_expires_at().seconds(),
            absl::ToUnixSeconds(start + absl::Minutes(2) + absl::Hours(1)));
  EXPECT_TRUE(Sessions("nobody").empty());
}

TEST_F(SessionTest, HostileRefreshTokensAreRefusedCleanly) {
  const IssueResponse login = Login("alice", {"A"});
  struct Case {
    const char* name;
    std::string token;
    grpc::StatusCode want;
  };
  const Case cases[] = {
      {"empty", "", grpc::StatusCode::INVALID_ARGUMENT},
      {"an access token", login.access_token(),
       grpc::StatusCode::UNAUTHENTICATED},
      {"unknown", std::string(43, 'A'), grpc::StatusCode::UNAUTHENTICATED},
      {"one character short", login.refresh_token().substr(1),
       grpc::StatusCode::UNAUTHENTICATED},
      {"padded", login.refresh_token() + "=",
       grpc::StatusCode::UNAUTHENTICATED},
      {"nul inside",
       std::string(20, 'A') + std::string(1, '\0') + std::string(22, 'A'),
       grpc::StatusCode::UNAUTHENTICATED},
      {"huge", std::string(32 << 10, 'A'), grpc::StatusCode::UNAUTHENTICATED},
      {"over the message cap", std::string(1 << 20, 'A'),
       grpc::StatusCode::RESOURCE_EXHAUSTED},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(RefreshCode(c.token), c.want);
  }
  // None of that hurt the real session.
  EXPECT_EQ(RefreshCode(login.refresh_token()), grpc::StatusCode::OK);
  sigil::v1::ListSessionsRequest bad;
  sigil::v1::ListSessionsResponse response;
  EXPECT_EQ(stub_->ListSessions(Context().get(), bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Issue 19 finding 10c: 50,000 sessions made one 4.86 MB reply, over the
// default 4 MB client limit. Pages cover every live session exactly once.
TEST_F(SessionTest, PagesListEverySessionExactlyOnce) {
  constexpr int kSessions = 25;
  std::set<std::string> issued;
  for (int i = 0; i < kSessions; ++i) {
    issued.insert(Login("paged", {"A"}).session_id());
  }
  // Ended sessions are skipped, not counted against a page.
  const IssueResponse ended = Login("paged", {"A"});
  Revoke(ended.refresh_token());

  for (int page_size : {1, 4, 7, 25, 26, 0}) {
    SCOPED_TRACE(absl::StrCat("page_size ", page_size));
    std::vector<std::string> seen;
    sigil::v1::ListSessionsRequest request;
    request.set_subject("paged");
    request.set_page_size(page_size);
    int pages = 0;
    do {
      sigil::v1::ListSessionsResponse response;
      ASSERT_THAT(stub_->ListSessions(Context().get(), request, &response),
                  IsOk());
      ASSERT_LE(response.sessions_size(), page_size == 0 ? 100 : page_size);
      for (const sigil::v1::Session& session : response.sessions()) {
        seen.push_back(session.session_id());
      }
      request.set_page_token(response.next_page_token());
      ASSERT_LT(++pages, 100);
    } while (!request.page_token().empty());
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), issued);
    EXPECT_EQ(seen.size(), issued.size());
  }
}

TEST_F(SessionTest, AForeignPageTokenIsInvalidArgument) {
  Login("paged", {"A"});
  for (const char* token : {"not-a-token", "0123456789ABCDEF0123456789abcdef",
                            "00", "0123456789abcdef0123456789abcdef0"}) {
    sigil::v1::ListSessionsRequest request;
    request.set_subject("paged");
    request.set_page_token(token);
    sigil::v1::ListSessionsResponse response;
    EXPECT_EQ(
        stub_->ListSessions(Context().get(), request, &response).error_code(),
        grpc::StatusCode::INVALID_ARGUMENT)
        << token;
  }
  sigil::v1::ListSessionsRequest negative;
  negative.set_subject("paged");
  negative.set_page_size(-1);
  sigil::v1::ListSessionsResponse response;
  EXPECT_EQ(
      stub_->ListSessions(Context().get(), negative, &response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SessionTest, SessionsAndRotationSurviveARestart) {
  const IssueResponse login = Login("alice", {"A"});
  const IssueResponse next = Refreshed(login.refresh_token());
  StopServer();
  StartServer();
  clock_.Advance(absl::Seconds(3));
  EXPECT_EQ(Sessions("alice").size(), 1u);
  EXPECT_EQ(RefreshCode(next.refresh_token()), grpc::StatusCode::OK);
  // The spent token is still known as spent: reuse ends the session.
  EXPECT_EQ(RefreshCode(login.refresh_token()),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Sessions("alice").empty());
}

}  // namespace
}  // namespace sigil::server
