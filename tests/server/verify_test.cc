// Verify through the gRPC API: verdicts as data, claims, cache_until,
// expiry on a fake clock, scopes, and hostile input that must stay a
// verdict.

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"
#include "token/jwt.h"
#include "token/key_set.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::Not;
using VerifyTest = ServiceTest;

TEST_F(VerifyTest, ValidTokenReturnsClaimsAndCacheUntilExpiry) {
  const sigil::v1::IssueResponse issued =
      Login("alice", {"A", "B"}, {"orders.read", "orders.write"});
  const sigil::v1::VerifyResponse r = Check(issued.access_token(), "B");
  EXPECT_EQ(Outcome(r), "OK VALID");
  EXPECT_EQ(r.claims().subject(), "alice");
  EXPECT_EQ(r.claims().issuer(), "https://sigil.test");
  EXPECT_EQ(std::vector<std::string>(r.claims().audience().begin(),
                                     r.claims().audience().end()),
            (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(r.claims().token_id(), issued.token_id());
  EXPECT_EQ(r.claims().session_id(), issued.session_id());
  EXPECT_EQ(r.claims().scopes_size(), 2);
  EXPECT_EQ(r.cache_until().seconds(), issued.expires_at().seconds());
  EXPECT_EQ(issued.expires_at().seconds(),
            absl::ToUnixSeconds(clock_.Now() + kTtl));
}

TEST_F(VerifyTest, TokenExpiresExactlyAtExp) {
  const std::string token = Login("alice", {"A"}).access_token();
  clock_.Advance(kTtl - absl::Seconds(1));
  EXPECT_EQ(Outcome(Check(token, "A")), "OK VALID");
  clock_.Advance(absl::Seconds(1));
  const sigil::v1::VerifyResponse r = Check(token, "A");
  EXPECT_EQ(Outcome(r), "UNAUTHENTICATED EXPIRED");
  EXPECT_FALSE(r.has_claims());
  EXPECT_FALSE(r.has_cache_until());
}

TEST_F(VerifyTest, RequestedTtlIsHonoured) {
  sigil::v1::IssueRequest request;
  request.set_subject("alice");
  request.add_systems("A");
  request.mutable_ttl()->set_seconds(60);
  sigil::v1::IssueResponse issued;
  ASSERT_THAT(stub_->Issue(Context().get(), request, &issued), IsOk());
  EXPECT_EQ(issued.expires_at().seconds(),
            absl::ToUnixSeconds(clock_.Now()) + 60);
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(Outcome(Check(issued.access_token(), "A")),
            "UNAUTHENTICATED EXPIRED");
}

TEST_F(VerifyTest, MissingScopeIsPermissionDenied) {
  const std::string token =
      Login("alice", {"A"}, {"orders.read"}).access_token();
  EXPECT_EQ(Outcome(Check(token, "A", {"orders.read"})), "OK VALID");
  EXPECT_EQ(Outcome(Check(token, "A", {"orders.write"})),
            "PERMISSION_DENIED INSUFFICIENT_SCOPE");
  EXPECT_EQ(Outcome(Check(token, "A", {"orders.read", "orders.write"})),
            "PERMISSION_DENIED INSUFFICIENT_SCOPE");
}

// The server checks a signature once per token; every later call must
// still see the audience, scopes and revocations of its own moment.
TEST_F(VerifyTest, ATokenVerifiedBeforeIsJudgedAfreshEachTime) {
  const std::string token =
      Login("alice", {"A", "B"}, {"orders.read"}).access_token();
  EXPECT_EQ(Outcome(Check(token, "A")), "OK VALID");
  EXPECT_EQ(Outcome(Check(token, "C")), "UNAUTHENTICATED WRONG_AUDIENCE");
  EXPECT_EQ(Outcome(Check(token, "A", {"orders.write"})),
            "PERMISSION_DENIED INSUFFICIENT_SCOPE");
  LogoutSubject("alice", "A");
  EXPECT_EQ(Outcome(Check(token, "A")),
            "PERMISSION_DENIED LOGGED_OUT_OF_SYSTEM");
  EXPECT_EQ(Outcome(Check(token, "B")), "OK VALID");
  LogoutSubjectEverywhere("alice");
  EXPECT_EQ(Outcome(Check(token, "B")), "UNAUTHENTICATED LOGGED_OUT_ALL");
}

TEST_F(VerifyTest, HostileTokensAreVerdictsAndTheServerStaysUp) {
  const std::string good = Login("alice", {"A"}).access_token();
  const size_t dot = good.find('.');
  struct Case {
    std::string name;
    std::string token;
    std::string outcome;
  };
  const std::vector<Case> cases = {
      {"one segment", "abc", "UNAUTHENTICATED MALFORMED"},
      {"two segments", good.substr(0, good.rfind('.')),
       "UNAUTHENTICATED MALFORMED"},
      {"five segments", good + ".a.b", "UNAUTHENTICATED MALFORMED"},
      // Over the verifier's cap, under the transport's message cap.
      {"40k dots", std::string(40000, '.'), "UNAUTHENTICATED TOKEN_TOO_LARGE"},
      {"32 KiB", std::string(32 << 10, 'a'), "UNAUTHENTICATED TOKEN_TOO_LARGE"},
      {"control bytes", std::string("\0\x7f\x01.\x02.\x03", 7),
       "UNAUTHENTICATED MALFORMED"},
      {"alg none",
       "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." +
           good.substr(dot + 1, good.rfind('.') - dot - 1) + ".",
       "UNAUTHENTICATED UNSUPPORTED_ALGORITHM"},
      {"bad signature", good.substr(0, good.size() - 4) + "AAAA",
       "UNAUTHENTICATED BAD_SIGNATURE"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Outcome(Check(c.token, "A")), c.outcome);
  }
  // Past the transport's message cap the request is not even read.
  sigil::v1::VerifyRequest huge;
  huge.set_token(std::string(1 << 20, 'a'));
  huge.set_system("A");
  sigil::v1::VerifyResponse response;
  EXPECT_EQ(stub_->Verify(Context().get(), huge, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Outcome(Check(good, "A")), "OK VALID");
}

TEST_F(VerifyTest, GetJwksVerifiesIssuedTokensWithAStandardKeySet) {
  const std::string token = Login("alice", {"A"}).access_token();
  sigil::v1::GetJwksResponse jwks;
  ASSERT_THAT(
      stub_->GetJwks(Context().get(), sigil::v1::GetJwksRequest(), &jwks),
      IsOk());
  ASSERT_EQ(jwks.keys_size(), 2);  // the active and the next key
  std::vector<std::string> kids;
  for (const sigil::v1::Jwk& key : jwks.keys()) {
    SCOPED_TRACE(key.kid());
    EXPECT_EQ(key.alg(), "ES256");
    EXPECT_EQ(key.kty(), "EC");
    EXPECT_EQ(key.crv(), "P-256");
    kids.push_back(key.kid());
  }

  auto keys = token::KeySet::FromJwksJson(jwks.jwks_json());
  ASSERT_THAT(keys, IsOk());
  token::JwtVerifier verifier({"https://sigil.test", &clock_});
  auto jwt = verifier.Verify(token, *keys, "A");
  ASSERT_THAT(jwt, IsOk());
  EXPECT_EQ(jwt->claims().subject, "alice");
  EXPECT_THAT(kids, ::testing::Contains(jwt->kid()));
}

TEST_F(VerifyTest, SigningKeyPersistsAcrossRestarts) {
  const std::string token = Login("alice", {"A"}).access_token();
  StopServer();
  StartServer();
  EXPECT_EQ(Outcome(Check(token, "A")), "OK VALID");
}

TEST_F(VerifyTest, KeyFileReadableByOthersStopsTheStart) {
  StopServer();
  int keys = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(options_.data_dir + "/keys")) {
    EXPECT_EQ(entry.status().permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read |
                  std::filesystem::perms::owner_write)
        << entry.path();
    std::filesystem::permissions(entry.path(),
                                 std::filesystem::perms::group_read,
                                 std::filesystem::perm_options::add);
    ++keys;
  }
  ASSERT_EQ(keys, 2);  // the active and the next key
  auto server = SigilServer::Start(options_, &clock_);
  ASSERT_THAT(server, Not(IsOk()));
  EXPECT_NE(server.status().message().find("readable by others"),
            absl::string_view::npos)
      << server.status();
}

TEST_F(VerifyTest, SecondServerOnTheSameDataDirFailsClearly) {
  auto second = SigilServer::Start(options_, &clock_);
  ASSERT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos)
      << second.status();
  EXPECT_EQ(Outcome(Check(Login("alice", {"A"}).access_token(), "A")),
            "OK VALID");
}

}  // namespace
}  // namespace sigil::server
