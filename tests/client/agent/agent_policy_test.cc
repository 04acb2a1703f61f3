// sigil-agent's front door (finding 3 of issue 19): the agent authorizes
// its own callers against its --policy, capped at its system, and names them
// to sigild for the audit log. An in-process sigild behind mTLS with a
// policy, an in-process agent reaching it with the agent's certificate, and
// callers holding certificates of a throwaway CA, over real sockets.
//
// The agent's certificate is an admin at sigild here, so every refusal
// below is the agent's own: sigild would have allowed the call.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

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
#include "token/json.h"
#include "wire/tls.h"

namespace sigil::client::agent {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::v1::Identity;
using ::testing::Not;

constexpr char kAgentPrincipal[] = "spiffe://example.org/agent/A";
constexpr char kAppA[] = "spiffe://example.org/app/A";

// sigild's policy: the login service issues; the agent of A is an admin
// (so sigild alone would let everything through) and marked as an agent;
// system B acts for B.
constexpr char kAuthorityPolicy[] = R"pb(
  grants {
    principal: "spiffe://example.org/login"
    issuer { systems: [ "A", "B" ] }
  }
  grants { principal: "spiffe://example.org/agent/A" admin: true agent: true }
  grants {
    principal: "spiffe://example.org/system/B"
    system { name: "B" }
  }
)pb";

// The body of GET `path` from 127.0.0.1:`port` (HTTP/1.0, read to EOF),
// or "" when the request fails.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address),
              sizeof(address)) == 0 &&
      write(fd, request.data(), request.size()) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
      response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  return context;
}

class AgentPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = testing::TestPki::Create(dir_.path(), "test");
    ASSERT_THAT(pki, IsOk());
    pki_ = std::make_unique<testing::TestPki>(*std::move(pki));
    auto server_cert = pki_->IssueServer("server");
    ASSERT_THAT(server_cert, IsOk());
    server_cert_ = *server_cert;
    for (const auto& [name, uri] : std::map<std::string, std::string>{
             {"login", "spiffe://example.org/login"},
             {"agent", kAgentPrincipal},
             {"app-a", kAppA},
             {"B", "spiffe://example.org/system/B"}}) {
      auto cert =
          pki_->IssueClient(name, testing::ClientNames{name, {uri}, {}});
      ASSERT_THAT(cert, IsOk());
      certs_[name] = *cert;
    }
    WriteFile(dir_.Sub("authority.textproto"), kAuthorityPolicy);

    server::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir_.Sub("data");
    options.tls = {server_cert_.cert_path, server_cert_.key_path,
                   pki_->ca_cert_path()};
    options.policy_file = dir_.Sub("authority.textproto");
    options.audit_log = dir_.Sub("audit.log");
    options.http_listen = "127.0.0.1:0";  // for /metrics
    auto server = server::SigilServer::Start(options, &token::RealClock());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    authority_target_ = absl::StrCat("localhost:", server_->port());
  }

  // TLS credentials trusting the CA, presenting `name`'s certificate; ""
  // presents none.
  std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& name) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = pki_->ca_cert_pem();
    if (!name.empty()) {
      tls.pem_cert_chain = certs_.at(name).cert_pem;
      tls.pem_private_key = certs_.at(name).key_pem;
    }
    return grpc::SslCredentials(tls);
  }

  // A fresh connection per stub, so each shows its own credentials.
  static std::unique_ptr<Identity::Stub> StubFor(
      const std::string& target,
      std::shared_ptr<grpc::ChannelCredentials> credentials) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return Identity::NewStub(
        grpc::CreateCustomChannel(target, std::move(credentials), args));
  }

  // Starts an agent for system A on `listen`, reaching sigild with the
  // agent's certificate, with `policy` (text format; "" for no --policy).
  // With `mtls`, it serves TLS and requires client certificates of the CA.
  std::unique_ptr<AgentServer> StartAgent(const std::string& listen,
                                          const std::string& policy,
                                          bool mtls) {
    AgentOptions options;
    options.listen = listen;
    options.client.system = "A";
    options.client.issuer = "sigil";
    if (mtls) {
      options.tls = {server_cert_.cert_path, server_cert_.key_path,
                     pki_->ca_cert_path()};
    }
    if (!policy.empty()) {
      options.policy_file =
          dir_.Sub(absl::StrCat("agent", ++agents_, ".pbtxt"));
      WriteFile(options.policy_file, policy);
    }
    const testing::IssuedCert& cert = certs_.at("agent");
    auto to_authority = wire::ChannelCredentialsFor(
        {cert.cert_path, cert.key_path, pki_->ca_cert_path()});
    EXPECT_THAT(to_authority, IsOk());
    if (!to_authority.ok()) return nullptr;
    auto agent = AgentServer::Start(
        grpc::CreateChannel(authority_target_, *to_authority), options);
    EXPECT_THAT(agent, IsOk());
    if (!agent.ok()) return nullptr;
    return *std::move(agent);
  }

  // A token for alice at A (and `more` systems), from the login service
  // straight to sigild.
  sigil::v1::IssueResponse Login(const std::vector<std::string>& systems) {
    sigil::v1::IssueRequest request;
    request.set_subject("alice");
    for (const std::string& system : systems) request.add_systems(system);
    sigil::v1::IssueResponse response;
    EXPECT_THAT(StubFor(authority_target_, Tls("login"))
                    ->Issue(Context().get(), request, &response),
                IsOk());
    return response;
  }

  // Every call the agent forwards, each as its own named case, made on
  // `stub`; each would change state at sigild if let through.
  struct Call {
    std::string name;
    std::function<grpc::Status(Identity::Stub&)> make;
  };
  std::vector<Call> ForwardedCalls(const sigil::v1::IssueResponse& login) {
    return {
        {"Issue",
         [](Identity::Stub& stub) {
           sigil::v1::IssueRequest request;
           request.set_subject("mallory");
           request.add_systems("A");
           sigil::v1::IssueResponse response;
           return stub.Issue(Context().get(), request, &response);
         }},
        {"Refresh",
         [login](Identity::Stub& stub) {
           sigil::v1::RefreshRequest request;
           request.set_refresh_token(login.refresh_token());
           sigil::v1::IssueResponse response;
           return stub.Refresh(Context().get(), request, &response);
         }},
        {"LogoutFromSystem",
         [](Identity::Stub& stub) {
           sigil::v1::LogoutFromSystemRequest request;
           request.set_subject("alice");
           request.set_system("A");
           sigil::v1::LogoutResponse response;
           return stub.LogoutFromSystem(Context().get(), request, &response);
         }},
        {"LogoutAll",
         [login](Identity::Stub& stub) {
           sigil::v1::LogoutAllRequest request;
           request.set_token(login.access_token());
           sigil::v1::LogoutResponse response;
           return stub.LogoutAll(Context().get(), request, &response);
         }},
        {"Revoke",
         [login](Identity::Stub& stub) {
           sigil::v1::RevokeRequest request;
           request.set_token(login.access_token());
           sigil::v1::RevokeResponse response;
           return stub.Revoke(Context().get(), request, &response);
         }},
    };
  }

  // Expects PERMISSION_DENIED for every forwarded call on `stub`, and that
  // alice's session survived them all.
  void ExpectEveryForwardedCallDenied(Identity::Stub& stub) {
    const sigil::v1::IssueResponse login = Login({"A"});
    for (const Call& call : ForwardedCalls(login)) {
      SCOPED_TRACE(call.name);
      const grpc::Status status = call.make(stub);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << status.error_message();
    }
    sigil::v1::VerifyRequest verify;
    verify.set_token(login.access_token());
    verify.set_system("A");
    sigil::v1::VerifyResponse verdict;
    ASSERT_THAT(StubFor(authority_target_, Tls("agent"))
                    ->Verify(Context().get(), verify, &verdict),
                IsOk());
    EXPECT_EQ(verdict.verdict().code(), "OK");
  }

  // The audit lines of sigild, parsed, with `action`.
  std::vector<token::JsonValue> AuditLines(const std::string& action) {
    std::ifstream in(dir_.Sub("audit.log"));
    std::vector<token::JsonValue> lines;
    std::string line;
    while (std::getline(in, line)) {
      auto parsed = token::ParseJson(line, token::JsonLimits());
      EXPECT_THAT(parsed, IsOk()) << line;
      if (!parsed.ok()) continue;
      const token::JsonValue* name = parsed->Find("action");
      if (name != nullptr && name->string_value() == action) {
        lines.push_back(*std::move(parsed));
      }
    }
    return lines;
  }

  static std::string Field(const token::JsonValue& line,
                           const std::string& name) {
    const token::JsonValue* value = line.Find(name);
    return value == nullptr ? "<absent>" : value->string_value();
  }

  testing::TempDir dir_;
  // Unix sockets need a path short enough for sun_path.
  testing::SocketDir sockets_;
  std::unique_ptr<testing::TestPki> pki_;
  testing::IssuedCert server_cert_;
  std::map<std::string, testing::IssuedCert> certs_;
  std::unique_ptr<server::SigilServer> server_;
  std::string authority_target_;
  int agents_ = 0;
};

// A's agent grants A's app system A and issuing for A.
constexpr char kAgentPolicyForAppA[] = R"pb(
  grants {
    principal: "spiffe://example.org/app/A"
    system { name: "A" }
    issuer { systems: [ "A" ] }
  }
)pb";

// The reproduction of finding 3: before, B's certificate logged alice out of
// A through A's agent (OK), where sigild itself would refuse B.
TEST_F(AgentPolicyTest, SystemBsCertificateIsDeniedEveryForwardedCall) {
  auto agent = StartAgent("127.0.0.1:0", kAgentPolicyForAppA, /*mtls=*/true);
  ASSERT_NE(agent, nullptr);
  auto as_b = StubFor(absl::StrCat("localhost:", agent->port()), Tls("B"));
  ExpectEveryForwardedCallDenied(*as_b);
}

TEST_F(AgentPolicyTest, ACallerWithoutACertificateIsDeniedEveryForwardedCall) {
  auto agent = StartAgent("127.0.0.1:0", kAgentPolicyForAppA, /*mtls=*/false);
  ASSERT_NE(agent, nullptr);
  auto plain = StubFor(absl::StrCat("127.0.0.1:", agent->port()),
                       grpc::InsecureChannelCredentials());
  ExpectEveryForwardedCallDenied(*plain);
}

TEST_F(AgentPolicyTest, WithoutAPolicyOnlyVerifyAndGetJwksAreServed) {
  auto agent = StartAgent("127.0.0.1:0", "", /*mtls=*/false);
  ASSERT_NE(agent, nullptr);
  auto plain = StubFor(absl::StrCat("127.0.0.1:", agent->port()),
                       grpc::InsecureChannelCredentials());
  ExpectEveryForwardedCallDenied(*plain);
  sigil::v1::VerifyRequest verify;
  verify.set_token(Login({"A"}).access_token());
  sigil::v1::VerifyResponse verdict;
  ASSERT_THAT(plain->Verify(Context().get(), verify, &verdict), IsOk());
  EXPECT_EQ(verdict.verdict().code(), "OK");
  sigil::v1::GetJwksResponse jwks;
  EXPECT_THAT(plain->GetJwks(Context().get(), {}, &jwks), IsOk());
}

TEST_F(AgentPolicyTest, AnExplicitAnonymousGrantAdmitsPlainCallers) {
  auto agent = StartAgent("127.0.0.1:0", R"pb(
                            grants {
                              principal: "<anonymous>"
                              system { name: "A" }
                            }
                          )pb",
                          /*mtls=*/false);
  ASSERT_NE(agent, nullptr);
  auto plain = StubFor(absl::StrCat("127.0.0.1:", agent->port()),
                       grpc::InsecureChannelCredentials());
  Login({"A"});
  sigil::v1::LogoutFromSystemRequest request;
  request.set_subject("alice");
  request.set_system("A");
  sigil::v1::LogoutResponse response;
  ASSERT_THAT(plain->LogoutFromSystem(Context().get(), request, &response),
              IsOk());
  EXPECT_EQ(response.revoked_sessions(), 1);
}

TEST_F(AgentPolicyTest, AGrantedCallerIsNamedBesideTheAgentInTheAuditLog) {
  auto agent = StartAgent("127.0.0.1:0", kAgentPolicyForAppA, /*mtls=*/true);
  ASSERT_NE(agent, nullptr);
  auto as_app =
      StubFor(absl::StrCat("localhost:", agent->port()), Tls("app-a"));
  Login({"A"});
  sigil::v1::LogoutFromSystemRequest request;
  request.set_subject("alice");
  request.set_system("A");
  sigil::v1::LogoutResponse response;
  ASSERT_THAT(as_app->LogoutFromSystem(Context().get(), request, &response),
              IsOk());
  EXPECT_EQ(response.revoked_sessions(), 1);
  const std::vector<token::JsonValue> lines = AuditLines("LogoutFromSystem");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Field(lines[0], "principal"), kAgentPrincipal);
  EXPECT_EQ(Field(lines[0], "on_behalf_of"), kAppA);
  EXPECT_EQ(Field(lines[0], "result"), "OK");
}

// What the agent's system may not do is refused by the agent even for a
// caller its policy makes an admin, and although sigild would allow it.
TEST_F(AgentPolicyTest, NoGrantReachesBeyondTheAgentsSystem) {
  auto agent = StartAgent(
      "127.0.0.1:0", R"pb(
        grants { principal: "spiffe://example.org/app/A" admin: true }
      )pb",
      /*mtls=*/true);
  ASSERT_NE(agent, nullptr);
  auto as_app =
      StubFor(absl::StrCat("localhost:", agent->port()), Tls("app-a"));
  const sigil::v1::IssueResponse token_b = Login({"B"});
  const sigil::v1::IssueResponse token_ab = Login({"A", "B"});
  const std::vector<Call> beyond = {
      {"Issue for B",
       [](Identity::Stub& stub) {
         sigil::v1::IssueRequest request;
         request.set_subject("mallory");
         request.add_systems("B");
         sigil::v1::IssueResponse response;
         return stub.Issue(Context().get(), request, &response);
       }},
      {"Issue for A and B",
       [](Identity::Stub& stub) {
         sigil::v1::IssueRequest request;
         request.set_subject("mallory");
         request.add_systems("A");
         request.add_systems("B");
         sigil::v1::IssueResponse response;
         return stub.Issue(Context().get(), request, &response);
       }},
      {"LogoutFromSystem B",
       [](Identity::Stub& stub) {
         sigil::v1::LogoutFromSystemRequest request;
         request.set_subject("alice");
         request.set_system("B");
         sigil::v1::LogoutResponse response;
         return stub.LogoutFromSystem(Context().get(), request, &response);
       }},
      {"LogoutAll by subject",
       [](Identity::Stub& stub) {
         sigil::v1::LogoutAllRequest request;
         request.set_subject("alice");
         sigil::v1::LogoutResponse response;
         return stub.LogoutAll(Context().get(), request, &response);
       }},
      {"LogoutAll with a token for B",
       [token_b](Identity::Stub& stub) {
         sigil::v1::LogoutAllRequest request;
         request.set_token(token_b.access_token());
         sigil::v1::LogoutResponse response;
         return stub.LogoutAll(Context().get(), request, &response);
       }},
      {"Revoke a token for B",
       [token_b](Identity::Stub& stub) {
         sigil::v1::RevokeRequest request;
         request.set_token(token_b.access_token());
         sigil::v1::RevokeResponse response;
         return stub.Revoke(Context().get(), request, &response);
       }},
      // Follow-up finding 1: the agent cannot see a session's systems, so
      // sigild refuses what the agent's system alone does not cover.
      {"Refresh a session for B",
       [token_b](Identity::Stub& stub) {
         sigil::v1::RefreshRequest request;
         request.set_refresh_token(token_b.refresh_token());
         sigil::v1::IssueResponse response;
         return stub.Refresh(Context().get(), request, &response);
       }},
      {"Refresh a session for A and B",
       [token_ab](Identity::Stub& stub) {
         sigil::v1::RefreshRequest request;
         request.set_refresh_token(token_ab.refresh_token());
         sigil::v1::IssueResponse response;
         return stub.Refresh(Context().get(), request, &response);
       }},
  };
  for (const Call& call : beyond) {
    SCOPED_TRACE(call.name);
    const grpc::Status status = call.make(*as_app);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << status.error_message();
  }
  EXPECT_THAT(AuditLines("Issue").size(), 2u);  // the logins' only
  EXPECT_THAT(AuditLines("LogoutAll"), ::testing::IsEmpty());
  EXPECT_THAT(AuditLines("Revoke"), ::testing::IsEmpty());
  // Refused before the rotation: both refresh tokens are still unspent.
  auto login = StubFor(authority_target_, Tls("login"));
  for (const sigil::v1::IssueResponse& session : {token_b, token_ab}) {
    sigil::v1::RefreshRequest request;
    request.set_refresh_token(session.refresh_token());
    sigil::v1::IssueResponse response;
    EXPECT_THAT(login->Refresh(Context().get(), request, &response), IsOk());
  }
}

// The cap leaves the agent's own sessions refreshable through it.
TEST_F(AgentPolicyTest, ASessionForTheAgentsSystemAloneIsRefreshedThroughIt) {
  auto agent = StartAgent("127.0.0.1:0", kAgentPolicyForAppA, /*mtls=*/true);
  ASSERT_NE(agent, nullptr);
  auto as_app =
      StubFor(absl::StrCat("localhost:", agent->port()), Tls("app-a"));
  sigil::v1::RefreshRequest request;
  request.set_refresh_token(Login({"A"}).refresh_token());
  sigil::v1::IssueResponse response;
  ASSERT_THAT(as_app->Refresh(Context().get(), request, &response), IsOk());
  EXPECT_THAT(response.access_token(), Not(::testing::IsEmpty()));
}

// Follow-up finding 3: a token the agent cannot read is refused there, as
// sigild would refuse it, instead of being forwarded with the cap unchecked.
TEST_F(AgentPolicyTest, AnUnreadableTokenIsRefusedByTheAgentItself) {
  auto agent = StartAgent("127.0.0.1:0", kAgentPolicyForAppA, /*mtls=*/true);
  ASSERT_NE(agent, nullptr);
  auto as_app =
      StubFor(absl::StrCat("localhost:", agent->port()), Tls("app-a"));
  for (const std::string token : {"not-a-jwt", "a.b.c", "e30.e30.e30"}) {
    SCOPED_TRACE(token);
    sigil::v1::LogoutAllRequest request;
    request.set_token(token);
    sigil::v1::LogoutResponse response;
    const grpc::Status status =
        as_app->LogoutAll(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << status.error_message();
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("not a valid credential"));
  }
  EXPECT_THAT(AuditLines("LogoutAll"), ::testing::IsEmpty());
}

// Follow-up finding 3: sigild acts on a token forwarded by A's agent only
// while it is still valid at A, though the agent's own certificate is an
// admin there (which sigild alone would let act on any token).
TEST_F(AgentPolicyTest, ATokenLoggedOutOfTheAgentsSystemEndsNothingThroughIt) {
  auto agent = StartAgent("127.0.0.1:0", kAgentPolicyForAppA, /*mtls=*/true);
  ASSERT_NE(agent, nullptr);
  auto as_app =
      StubFor(absl::StrCat("localhost:", agent->port()), Tls("app-a"));
  const sigil::v1::IssueResponse login = Login({"A", "B"});
  sigil::v1::LogoutFromSystemRequest logout;
  logout.set_token(login.access_token());
  logout.set_system("A");
  sigil::v1::LogoutResponse logged_out;
  ASSERT_THAT(as_app->LogoutFromSystem(Context().get(), logout, &logged_out),
              IsOk());

  sigil::v1::LogoutAllRequest all;
  all.set_token(login.access_token());
  sigil::v1::LogoutResponse response;
  grpc::Status status = as_app->LogoutAll(Context().get(), all, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << status.error_message();
  sigil::v1::RevokeRequest revoke;
  revoke.set_token(login.access_token());
  sigil::v1::RevokeResponse revoked;
  status = as_app->Revoke(Context().get(), revoke, &revoked);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << status.error_message();

  // Still valid at B.
  sigil::v1::VerifyRequest verify;
  verify.set_token(login.access_token());
  verify.set_system("B");
  sigil::v1::VerifyResponse verdict;
  ASSERT_THAT(StubFor(authority_target_, Tls("B"))
                  ->Verify(Context().get(), verify, &verdict),
              IsOk());
  EXPECT_EQ(verdict.verdict().code(), "OK");
}

// RefreshRequest.system and sigil-acting-for-system only narrow, so sigild
// honours them from any caller: here the login service, which may refresh
// at A and B, asks as if it acted for A alone.
TEST_F(AgentPolicyTest, SigildHonoursTheSystemACallerActsForFromAnyone) {
  auto as_login = StubFor(authority_target_, Tls("login"));
  const sigil::v1::IssueResponse login = Login({"A", "B"});
  sigil::v1::RefreshRequest refresh;
  refresh.set_refresh_token(login.refresh_token());
  refresh.set_system("A");
  sigil::v1::IssueResponse refreshed;
  grpc::Status status = as_login->Refresh(Context().get(), refresh, &refreshed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << status.error_message();
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("\"B\""));
  refresh.set_system("no such system!");
  EXPECT_EQ(
      as_login->Refresh(Context().get(), refresh, &refreshed).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  refresh.clear_system();
  EXPECT_THAT(as_login->Refresh(Context().get(), refresh, &refreshed), IsOk());

  auto as_agent = StubFor(authority_target_, Tls("agent"));
  sigil::v1::RevokeRequest revoke;
  revoke.set_token(refreshed.access_token());
  sigil::v1::RevokeResponse revoked;
  auto bad = Context();
  bad->AddMetadata("sigil-acting-for-system", "no such system!");
  EXPECT_EQ(as_agent->Revoke(bad.get(), revoke, &revoked).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  auto for_c = Context();
  for_c->AddMetadata("sigil-acting-for-system", "C");
  status = as_agent->Revoke(for_c.get(), revoke, &revoked);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << status.error_message();
}

// Follow-up finding 2: a certificate name with a control or non-ASCII byte
// reaches sigild escaped, where before it made invalid metadata.
TEST_F(AgentPolicyTest, ACallerNameWithOddBytesIsEscapedInTheHeader) {
  const std::string odd_dns = "tab\there.example\xc3\xa9";
  auto cert =
      pki_->IssueClient("odd", testing::ClientNames{"odd", {kAppA}, {odd_dns}});
  ASSERT_THAT(cert, IsOk());
  certs_["odd"] = *cert;
  auto agent = StartAgent("127.0.0.1:0", kAgentPolicyForAppA, /*mtls=*/true);
  ASSERT_NE(agent, nullptr);
  auto as_odd = StubFor(absl::StrCat("localhost:", agent->port()), Tls("odd"));
  Login({"A"});
  sigil::v1::LogoutFromSystemRequest request;
  request.set_subject("alice");
  request.set_system("A");
  sigil::v1::LogoutResponse response;
  ASSERT_THAT(as_odd->LogoutFromSystem(Context().get(), request, &response),
              IsOk());
  const std::vector<token::JsonValue> lines = AuditLines("LogoutFromSystem");
  ASSERT_EQ(lines.size(), 1u);
  // gRPC reads the IA5String's bytes as Latin-1 and hands them over in
  // UTF-8: 0xC3 0xA9 arrive as C3 83 C2 A9.
  EXPECT_EQ(Field(lines[0], "on_behalf_of"),
            absl::StrCat(kAppA, "%20tab%09here.example%C3%83%C2%A9"));
}

// Follow-up finding 4: sigild records only the escaped form, even from an
// agent.
TEST_F(AgentPolicyTest, SigildIgnoresAHeaderNotInTheEscapedForm) {
  auto as_agent = StubFor(authority_target_, Tls("agent"));
  Login({"A"});
  sigil::v1::LogoutFromSystemRequest request;
  request.set_subject("alice");
  request.set_system("A");
  sigil::v1::LogoutResponse response;
  auto context = Context();
  context->AddMetadata("sigil-on-behalf-of", "spiffe://x/%zz");
  ASSERT_THAT(as_agent->LogoutFromSystem(context.get(), request, &response),
              IsOk());
  const std::vector<token::JsonValue> lines = AuditLines("LogoutFromSystem");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Field(lines[0], "on_behalf_of"), "<absent>");
  EXPECT_THAT(HttpGet(server_->http_port(), "/metrics"),
              ::testing::HasSubstr("\nsigil_on_behalf_of_ignored_total 1\n"));
}

// Straight to sigild, the header from a principal not marked as an agent
// is neither recorded nor a source of rights.
TEST_F(AgentPolicyTest, SigildIgnoresTheHeaderFromANonAgent) {
  auto as_b = StubFor(authority_target_, Tls("B"));
  Login({"B"});
  sigil::v1::LogoutFromSystemRequest request;
  request.set_subject("alice");
  request.set_system("B");
  sigil::v1::LogoutResponse response;
  auto context = Context();
  context->AddMetadata("sigil-on-behalf-of", "spiffe://example.org/admin");
  ASSERT_THAT(as_b->LogoutFromSystem(context.get(), request, &response),
              IsOk());
  request.set_system("A");
  auto denied = Context();
  denied->AddMetadata("sigil-on-behalf-of", kAgentPrincipal);
  EXPECT_EQ(
      as_b->LogoutFromSystem(denied.get(), request, &response).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  const std::vector<token::JsonValue> lines = AuditLines("LogoutFromSystem");
  ASSERT_EQ(lines.size(), 2u);
  for (const token::JsonValue& line : lines) {
    EXPECT_EQ(Field(line, "principal"), "spiffe://example.org/system/B");
    EXPECT_EQ(Field(line, "on_behalf_of"), "<absent>");
  }
  EXPECT_THAT(HttpGet(server_->http_port(), "/metrics"),
              ::testing::HasSubstr("\nsigil_on_behalf_of_ignored_total 2\n"));
}

// Unix socket callers are named by their uid, which the kernel vouches for.
TEST_F(AgentPolicyTest, AUnixSocketCallerIsKnownByItsUid) {
  const std::string socket = sockets_.path() + "/agent.sock";
  const std::string me = absl::StrCat("unix-uid:", getuid());
  auto agent = StartAgent(absl::StrCat("unix:", socket),
                          absl::StrCat("grants { principal: \"", me,
                                       "\" system { name: \"A\" } }\n"),
                          /*mtls=*/false);
  ASSERT_NE(agent, nullptr);
  auto local = StubFor(absl::StrCat("unix:", socket),
                       grpc::InsecureChannelCredentials());
  Login({"A"});
  sigil::v1::LogoutFromSystemRequest request;
  request.set_subject("alice");
  request.set_system("A");
  sigil::v1::LogoutResponse response;
  ASSERT_THAT(local->LogoutFromSystem(Context().get(), request, &response),
              IsOk());
  const std::vector<token::JsonValue> lines = AuditLines("LogoutFromSystem");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Field(lines[0], "on_behalf_of"), me);
  // Verify is served to any local caller.
  sigil::v1::VerifyRequest verify;
  verify.set_token(Login({"A"}).access_token());
  sigil::v1::VerifyResponse verdict;
  EXPECT_THAT(local->Verify(Context().get(), verify, &verdict), IsOk());
}

TEST_F(AgentPolicyTest, AUnixSocketCallerOfAnotherUidIsDenied) {
  const std::string socket = sockets_.path() + "/agent.sock";
  auto agent =
      StartAgent(absl::StrCat("unix:", socket),
                 absl::StrCat("grants { principal: \"unix-uid:", getuid() + 1,
                              "\" system { name: \"A\" } }\n"),
                 /*mtls=*/false);
  ASSERT_NE(agent, nullptr);
  auto local = StubFor(absl::StrCat("unix:", socket),
                       grpc::InsecureChannelCredentials());
  ExpectEveryForwardedCallDenied(*local);
}

TEST_F(AgentPolicyTest, AMalformedPolicyStopsTheAgentNamingTheFile) {
  AgentOptions options;
  options.listen = "127.0.0.1:0";
  options.client.system = "A";
  options.policy_file = dir_.Sub("bad.textproto");
  WriteFile(options.policy_file, "grants { principal: \"unix-uid:x\" }\n");
  auto agent = AgentServer::Start(
      grpc::CreateChannel(authority_target_, Tls("agent")), options);
  ASSERT_THAT(agent, Not(IsOk()));
  EXPECT_THAT(std::string(agent.status().message()),
              ::testing::HasSubstr(options.policy_file));
}

}  // namespace
}  // namespace sigil::client::agent
