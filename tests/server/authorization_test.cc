// The authority behind mTLS and deploy/policy.example.textproto, called by
// clients holding certificates of a throwaway CA: each principal may do
// exactly what the policy grants, denials change nothing, and every state
// change is in the audit log.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/agent/agent_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sigil_server.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_pki.h"
#include "token/clock.h"
#include "wire/tls.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::Not;

namespace agent = ::sigil::client::agent;
using sigil::v1::Identity;

constexpr char kPolicy[] = SIGIL_SOURCE_DIR "/deploy/policy.example.textproto";

class AuthorizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = testing::TestPki::Create(dir_.path(), "test");
    ASSERT_THAT(pki, IsOk());
    auto server_cert = pki->IssueServer("server");
    ASSERT_THAT(server_cert, IsOk());
    const std::map<std::string, std::string> principals = {
        {"login", "spiffe://example.org/login"},
        {"admin", "spiffe://example.org/admin"},
        {"A", "spiffe://example.org/system/A"},
        {"B", "spiffe://example.org/system/B"},
        {"C", "spiffe://example.org/system/C"},
        // Certified by the CA, granted nothing.
        {"stranger", "spiffe://example.org/system/Z"},
    };
    for (const auto& [name, uri] : principals) {
      // The CN names the admin: names are read from SANs only.
      auto cert = pki->IssueClient(
          name, testing::ClientNames{"spiffe://example.org/admin", {uri}, {}});
      ASSERT_THAT(cert, IsOk());
      clients_[name] = *cert;
    }
    auto other = testing::TestPki::Create(dir_.path(), "other");
    ASSERT_THAT(other, IsOk());
    auto forged = other->IssueClient(
        "forged",
        testing::ClientNames{"admin", {"spiffe://example.org/admin"}, {}});
    ASSERT_THAT(forged, IsOk());
    clients_["forged"] = *forged;
    ca_pem_ = pki->ca_cert_pem();

    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir_.Sub("data");
    options.tls = {server_cert->cert_path, server_cert->key_path,
                   pki->ca_cert_path()};
    options.policy_file = kPolicy;
    options.audit_log = dir_.Sub("audit.log");
    auto server = SigilServer::Start(options, &token::RealClock());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    server_options_ = options;
  }

  // A stub presenting `name`'s certificate; "" presents none.
  std::unique_ptr<Identity::Stub> As(const std::string& name) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ca_pem_;
    if (!name.empty()) {
      tls.pem_cert_chain = clients_.at(name).cert_pem;
      tls.pem_private_key = clients_.at(name).key_pem;
    }
    grpc::ChannelArguments args;
    // A fresh connection per stub, so each call shows its own certificate.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return Identity::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("localhost:", server_->port()),
                                  grpc::SslCredentials(tls), args));
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    return context;
  }

  grpc::StatusCode IssueAs(const std::string& caller,
                           const std::vector<std::string>& systems,
                           sigil::v1::IssueResponse* response) {
    sigil::v1::IssueRequest request;
    request.set_subject("alice");
    for (const std::string& system : systems) request.add_systems(system);
    return As(caller)->Issue(Context().get(), request, response).error_code();
  }

  // A token for alice at `systems`, issued by the login service.
  sigil::v1::IssueResponse Login(const std::vector<std::string>& systems) {
    sigil::v1::IssueResponse response;
    EXPECT_EQ(IssueAs("login", systems, &response), grpc::StatusCode::OK);
    return response;
  }

  grpc::StatusCode VerifyAs(const std::string& caller, const std::string& token,
                            const std::string& system,
                            std::string* outcome = nullptr) {
    sigil::v1::VerifyRequest request;
    request.set_token(token);
    request.set_system(system);
    sigil::v1::VerifyResponse response;
    grpc::Status status =
        As(caller)->Verify(Context().get(), request, &response);
    if (outcome != nullptr) {
      *outcome =
          absl::StrCat(response.verdict().code(), " ",
                       sigil::v1::Reason_Name(response.verdict().reason()));
    }
    return status.error_code();
  }

  // The verdict for `token` as `system` itself sees it.
  std::string Verdict(const std::string& token, const std::string& system) {
    std::string outcome;
    EXPECT_EQ(VerifyAs(system, token, system, &outcome), grpc::StatusCode::OK);
    return outcome;
  }

  std::string AuditText() {
    std::ifstream in(dir_.Sub("audit.log"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  testing::TempDir dir_;
  ServerOptions server_options_;
  std::map<std::string, testing::IssuedCert> clients_;
  std::string ca_pem_;
  std::unique_ptr<SigilServer> server_;
};

TEST_F(AuthorizationTest, OnlyLocalListenersRunWithoutTlsOrPolicy) {
  struct Case {
    const char* name;
    std::function<void(ServerOptions&)> change;
    const char* error;  // empty: starts
  };
  const Case cases[] = {
      {"plaintext beyond loopback", [](ServerOptions& o) { o.tls = {}; },
       "refusing to serve plaintext on 0.0.0.0:0"},
      {"TLS without a policy beyond loopback",
       [](ServerOptions& o) { o.policy_file.clear(); },
       "--policy is required to serve on 0.0.0.0:0"},
      {"a client CA without a server certificate",
       [](ServerOptions& o) { o.tls.cert.clear(), o.tls.key.clear(); },
       "a client CA needs the server's own certificate"},
      {"a policy without client certificates",
       [](ServerOptions& o) { o.tls.ca.clear(); },
       "--policy needs --client_ca"},
      {"behind a mesh, told so",
       [](ServerOptions& o) {
         o.tls = {};
         o.policy_file.clear();
         o.allow_insecure = true;
       },
       ""},
      {"TLS and a policy", [](ServerOptions&) {}, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ServerOptions options = server_options_;
    options.listen = "0.0.0.0:0";
    options.data_dir = dir_.Sub(absl::StrCat("data-", c.name));
    c.change(options);
    auto server = SigilServer::Start(options, &token::RealClock());
    if (c.error[0] == '\0') {
      EXPECT_THAT(server, IsOk());
    } else {
      ASSERT_THAT(server, StatusIs(absl::StatusCode::kFailedPrecondition));
      EXPECT_TRUE(absl::StrContains(server.status().message(), c.error))
          << server.status();
    }
  }
}

TEST_F(AuthorizationTest, AnAgentActsWithItsSystemsRightsOnly) {
  agent::AgentOptions options;
  options.listen = "127.0.0.1:0";
  options.client.system = "A";
  options.client.issuer = "sigil";
  const testing::IssuedCert& cert = clients_.at("A");
  auto to_authority = wire::ChannelCredentialsFor(
      {cert.cert_path, cert.key_path, dir_.Sub("test-ca.crt")});
  ASSERT_THAT(to_authority, IsOk());
  auto agent = agent::AgentServer::Start(
      grpc::CreateChannel(absl::StrCat("localhost:", server_->port()),
                          *to_authority),
      options);
  ASSERT_THAT(agent, IsOk());
  auto through_agent = Identity::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*agent)->port()),
                          grpc::InsecureChannelCredentials()));

  const sigil::v1::IssueResponse token_a = Login({"A"});
  sigil::v1::VerifyRequest verify;
  verify.set_token(token_a.access_token());
  verify.set_system("A");
  sigil::v1::VerifyResponse verdict;
  ASSERT_THAT(through_agent->Verify(Context().get(), verify, &verdict), IsOk());
  EXPECT_EQ(verdict.verdict().code(), "OK");
  // Forwarded with A's certificate, Issue gets A's rights: none.
  sigil::v1::IssueRequest issue;
  issue.set_subject("alice");
  issue.add_systems("A");
  sigil::v1::IssueResponse issued;
  EXPECT_EQ(through_agent->Issue(Context().get(), issue, &issued).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  options.listen = "0.0.0.0:0";
  auto exposed = agent::AgentServer::Start(
      grpc::CreateChannel(absl::StrCat("localhost:", server_->port()),
                          *to_authority),
      options);
  ASSERT_THAT(exposed, Not(IsOk()));
  EXPECT_TRUE(absl::StrContains(exposed.status().message(),
                                "refusing to serve plaintext"))
      << exposed.status();
}

TEST_F(AuthorizationTest, CallersWithoutACertificateOfTheCaAreRefused) {
  for (const char* caller : {"", "forged"}) {
    SCOPED_TRACE(caller[0] == '\0' ? "no certificate" : caller);
    sigil::v1::IssueResponse response;
    EXPECT_EQ(IssueAs(caller, {"A"}, &response), grpc::StatusCode::UNAVAILABLE);
  }
}

TEST_F(AuthorizationTest, EachPrincipalMayDoWhatThePolicyGrants) {
  const sigil::v1::IssueResponse token_a = Login({"A"});
  const sigil::v1::IssueResponse token_c = Login({"C"});
  struct Case {
    const char* name;
    std::function<grpc::StatusCode()> call;
    grpc::StatusCode want;
  };
  sigil::v1::IssueResponse ignored;
  auto logout_from = [&](const std::string& caller, const std::string& system) {
    sigil::v1::LogoutFromSystemRequest request;
    request.set_subject("nobody");
    request.set_system(system);
    sigil::v1::LogoutResponse response;
    return As(caller)
        ->LogoutFromSystem(Context().get(), request, &response)
        .error_code();
  };
  auto admin_only = [&](const std::string& caller) {
    sigil::v1::ListSessionsRequest request;
    request.set_subject("alice");
    sigil::v1::ListSessionsResponse response;
    return As(caller)
        ->ListSessions(Context().get(), request, &response)
        .error_code();
  };
  auto rotate = [&](const std::string& caller) {
    sigil::v1::KeysResponse response;
    return As(caller)
        ->RotateKeys(Context().get(), sigil::v1::RotateKeysRequest(), &response)
        .error_code();
  };
  auto watch = [&](const std::string& caller) {
    auto context = Context();
    auto stub = As(caller);
    auto reader = stub->WatchRevocations(context.get());
    reader->Write(sigil::v1::WatchRevocationsRequest());
    sigil::v1::WatchRevocationsResponse first;
    if (reader->Read(&first)) return grpc::StatusCode::OK;
    return reader->Finish().error_code();
  };
  const grpc::StatusCode kOk = grpc::StatusCode::OK;
  const grpc::StatusCode kDenied = grpc::StatusCode::PERMISSION_DENIED;
  const Case cases[] = {
      {"login issues for A, B and C",
       [&] {
         return IssueAs("login", {"A", "B", "C"}, &ignored);
       },
       kOk},
      {"login cannot issue for a system it does not serve",
       [&] {
         return IssueAs("login", {"A", "D"}, &ignored);
       },
       kDenied},
      {"system A cannot issue", [&] { return IssueAs("A", {"A"}, &ignored); },
       kDenied},
      {"admin issues", [&] { return IssueAs("admin", {"A"}, &ignored); }, kOk},
      {"a stranger cannot issue",
       [&] { return IssueAs("stranger", {"A"}, &ignored); }, kDenied},
      {"A verifies for A",
       [&] { return VerifyAs("A", token_a.access_token(), "A"); }, kOk},
      {"A cannot verify as B",
       [&] { return VerifyAs("A", token_a.access_token(), "B"); }, kDenied},
      {"login cannot verify",
       [&] { return VerifyAs("login", token_a.access_token(), "A"); }, kDenied},
      {"A logs subjects out of A", [&] { return logout_from("A", "A"); }, kOk},
      {"B cannot log subjects out of A", [&] { return logout_from("B", "A"); },
       kDenied},
      {"admin logs subjects out of A",
       [&] { return logout_from("admin", "A"); }, kOk},
      {"A cannot list sessions", [&] { return admin_only("A"); }, kDenied},
      {"admin lists sessions", [&] { return admin_only("admin"); }, kOk},
      {"login cannot rotate keys", [&] { return rotate("login"); }, kDenied},
      {"admin rotates keys", [&] { return rotate("admin"); }, kOk},
      {"A watches revocations", [&] { return watch("A"); }, kOk},
      {"login cannot watch revocations", [&] { return watch("login"); },
       kDenied},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.call(), c.want);
  }
  // Nothing denied changed anything: A's token is still good at A.
  EXPECT_EQ(Verdict(token_a.access_token(), "A"), "OK VALID");
  EXPECT_EQ(Verdict(token_c.access_token(), "C"), "OK VALID");
}

TEST_F(AuthorizationTest, ASystemLogsOnlyItsOwnUsersOut) {
  const sigil::v1::IssueResponse token_a = Login({"A"});
  const sigil::v1::IssueResponse token_c = Login({"C"});

  // B names A: refused, and the token still verifies at A.
  sigil::v1::LogoutFromSystemRequest by_b;
  by_b.set_subject("alice");
  by_b.set_system("A");
  sigil::v1::LogoutResponse response;
  EXPECT_EQ(
      As("B")->LogoutFromSystem(Context().get(), by_b, &response).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Verdict(token_a.access_token(), "A"), "OK VALID");

  // B presenting A's token (stolen, or misrouted) cannot use it either.
  sigil::v1::RevokeRequest revoke;
  revoke.set_token(token_a.access_token());
  sigil::v1::RevokeResponse revoked;
  EXPECT_EQ(As("B")->Revoke(Context().get(), revoke, &revoked).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  sigil::v1::LogoutAllRequest all_with_a;
  all_with_a.set_token(token_a.access_token());
  EXPECT_EQ(
      As("B")->LogoutAll(Context().get(), all_with_a, &response).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Verdict(token_a.access_token(), "A"), "OK VALID");

  // C logs its user out with the user's own C token.
  sigil::v1::LogoutFromSystemRequest by_c;
  by_c.set_token(token_c.access_token());
  by_c.set_system("C");
  EXPECT_EQ(
      As("C")->LogoutFromSystem(Context().get(), by_c, &response).error_code(),
      grpc::StatusCode::OK);
  EXPECT_EQ(Verdict(token_c.access_token(), "C"), "UNAUTHENTICATED LOGGED_OUT");
  EXPECT_EQ(Verdict(token_a.access_token(), "A"), "OK VALID");

  // Logging a subject out everywhere by name is an administrator's act.
  sigil::v1::LogoutAllRequest all;
  all.set_subject("alice");
  EXPECT_EQ(As("A")->LogoutAll(Context().get(), all, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Verdict(token_a.access_token(), "A"), "OK VALID");
  EXPECT_EQ(
      As("admin")->LogoutAll(Context().get(), all, &response).error_code(),
      grpc::StatusCode::OK);
  EXPECT_EQ(Verdict(token_a.access_token(), "A"),
            "UNAUTHENTICATED LOGGED_OUT_ALL");
}

// Issue 19 finding 8: once A has logged alice out of A, her token is no
// credential at A, so A may no longer use it to end her sessions at B.
TEST_F(AuthorizationTest, ASystemLoggedOutOfCannotActWithTheToken) {
  const sigil::v1::IssueResponse token = Login({"A", "B"});
  sigil::v1::LogoutFromSystemRequest out_of_a;
  out_of_a.set_subject("alice");
  out_of_a.set_system("A");
  sigil::v1::LogoutResponse response;
  ASSERT_THAT(As("A")->LogoutFromSystem(Context().get(), out_of_a, &response),
              IsOk());
  ASSERT_EQ(Verdict(token.access_token(), "B"), "OK VALID");

  sigil::v1::LogoutAllRequest all;
  all.set_token(token.access_token());
  EXPECT_EQ(As("A")->LogoutAll(Context().get(), all, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "LogoutAll{token} from A after alice logged out of A";
  sigil::v1::RevokeRequest revoke;
  revoke.set_token(token.access_token());
  sigil::v1::RevokeResponse revoked;
  EXPECT_EQ(As("A")->Revoke(Context().get(), revoke, &revoked).error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "Revoke{token} from A after alice logged out of A";
  EXPECT_EQ(Verdict(token.access_token(), "B"), "OK VALID");
}

TEST_F(AuthorizationTest, ASystemTheTokenIsStillValidAtMayStillActWithIt) {
  const sigil::v1::IssueResponse token = Login({"A", "B"});
  sigil::v1::LogoutFromSystemRequest out_of_a;
  out_of_a.set_subject("alice");
  out_of_a.set_system("A");
  sigil::v1::LogoutResponse response;
  ASSERT_THAT(As("A")->LogoutFromSystem(Context().get(), out_of_a, &response),
              IsOk());

  sigil::v1::RevokeRequest revoke;
  revoke.set_token(token.access_token());
  sigil::v1::RevokeResponse revoked;
  EXPECT_THAT(As("B")->Revoke(Context().get(), revoke, &revoked), IsOk());
  EXPECT_EQ(Verdict(token.access_token(), "B"),
            "UNAUTHENTICATED TOKEN_REVOKED");
}

// Issue 19 finding 5: a caller with no grant sent Issue with a 60 KB
// subject of control characters; each refusal wrote ~352 KiB of audit log.
TEST_F(AuthorizationTest, AHostileRefusedIssueCostsTheAuditLogOneShortLine) {
  sigil::v1::IssueRequest request;
  request.set_subject(std::string(60000, '\x01'));
  request.add_systems("A");
  sigil::v1::IssueResponse response;
  EXPECT_EQ(
      As("stranger")->Issue(Context().get(), request, &response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  const std::string audit = AuditText();
  EXPECT_LT(audit.size(), 4096u) << "audit log of one refused Issue";
  EXPECT_TRUE(absl::StrContains(audit, R"("subject_bytes":60000)")) << audit;
  EXPECT_TRUE(absl::StrContains(audit, R"("result":"INVALID_ARGUMENT")"))
      << audit;
}

TEST_F(AuthorizationTest, ACallerRefusedOverAndOverIsSummarized) {
  constexpr int kCalls = 300;
  std::unique_ptr<Identity::Stub> stranger = As("stranger");
  sigil::v1::IssueRequest request;
  request.set_subject("alice");
  request.add_systems("A");
  for (int i = 0; i < kCalls; ++i) {
    sigil::v1::IssueResponse response;
    ASSERT_EQ(stranger->Issue(Context().get(), request, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << "call " << i;
  }
  const std::string audit = AuditText();
  const size_t lines = std::count(audit.begin(), audit.end(), '\n');
  // The default burst of 60 lines (plus one a second of the calls' time).
  EXPECT_LT(lines, static_cast<size_t>(kCalls) / 2) << audit.substr(0, 2000);
  EXPECT_GE(lines, 60u);
  // The principal's allowed calls are still all there.
  Login({"A"});
  EXPECT_TRUE(absl::StrContains(
      AuditText(),
      R"("principal":"spiffe://example.org/login","action":"Issue")"));
}

TEST_F(AuthorizationTest, RefreshNeedsTheIssuerOfTheSessionsSystems) {
  const sigil::v1::IssueResponse login = Login({"A"});
  sigil::v1::RefreshRequest request;
  request.set_refresh_token(login.refresh_token());
  sigil::v1::IssueResponse refreshed;
  EXPECT_EQ(As("A")->Refresh(Context().get(), request, &refreshed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // The denied attempt spent nothing.
  EXPECT_EQ(
      As("login")->Refresh(Context().get(), request, &refreshed).error_code(),
      grpc::StatusCode::OK);
  EXPECT_EQ(Verdict(refreshed.access_token(), "A"), "OK VALID");
}

TEST_F(AuthorizationTest, StateChangesAndDenialsAreAuditedWithoutTokens) {
  const sigil::v1::IssueResponse login = Login({"A"});
  sigil::v1::LogoutFromSystemRequest by_b;
  by_b.set_subject("alice");
  by_b.set_system("A");
  sigil::v1::LogoutResponse response;
  As("B")->LogoutFromSystem(Context().get(), by_b, &response);
  sigil::v1::RevokeRequest revoke;
  revoke.set_token(login.access_token());
  sigil::v1::RevokeResponse revoked;
  ASSERT_THAT(As("A")->Revoke(Context().get(), revoke, &revoked), IsOk());

  const std::string audit = AuditText();
  EXPECT_TRUE(absl::StrContains(
      audit,
      R"("principal":"spiffe://example.org/login","action":"Issue","subject":"alice","systems":["A"])"))
      << audit;
  EXPECT_TRUE(absl::StrContains(
      audit,
      R"("principal":"spiffe://example.org/system/B","action":"LogoutFromSystem","subject":"alice","systems":["A"])"))
      << audit;
  EXPECT_TRUE(absl::StrContains(audit, R"("result":"PERMISSION_DENIED")"))
      << audit;
  EXPECT_TRUE(absl::StrContains(
      audit, absl::StrCat(R"("token_id":")", login.token_id(), "\"")))
      << audit;
  EXPECT_FALSE(absl::StrContains(audit, login.access_token()));
  EXPECT_FALSE(absl::StrContains(audit, login.refresh_token()));
}

}  // namespace
}  // namespace sigil::server
