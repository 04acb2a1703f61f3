// CallerOf against real mTLS handshakes: an in-process gRPC server that
// requires and verifies client certificates from a throwaway CA, and
// clients presenting certificates with different names.

#include "server/auth/caller.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/auth/policy.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_pki.h"

namespace sigil::server::auth {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const char kExamplePolicy[] =
    SIGIL_SOURCE_DIR "/deploy/policy.example.textproto";

// A health service that remembers the caller of every Check.
class RecordingHealth final : public grpc::health::v1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext* context, const HealthCheckRequest*,
                     HealthCheckResponse* response) override {
    Caller caller = CallerOf(*context->auth_context());
    absl::MutexLock lock(&mu_);
    callers_.push_back(std::move(caller));
    response->set_status(HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }

  std::vector<Caller> TakeCallers() {
    absl::MutexLock lock(&mu_);
    return std::exchange(callers_, {});
  }

 private:
  absl::Mutex mu_;
  std::vector<Caller> callers_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<grpc::Server> StartServer(
    std::shared_ptr<grpc::ServerCredentials> credentials,
    grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", std::move(credentials), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

// One Check through a fresh connection (a private subchannel pool, so no
// connection made with other credentials is reused).
grpc::Status CallCheck(const std::string& target,
                       std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateCustomChannel(target, std::move(credentials), args));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  HealthCheckRequest request;
  HealthCheckResponse response;
  return stub->Check(&context, request, &response);
}

class CallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = testing::TestPki::Create(dir_.path(), "trusted");
    ASSERT_THAT(ca, IsOk());
    ca_ = std::make_unique<testing::TestPki>(*std::move(ca));
    auto other = testing::TestPki::Create(dir_.path(), "other");
    ASSERT_THAT(other, IsOk());
    other_ca_ = std::make_unique<testing::TestPki>(*std::move(other));

    auto server_cert = ca_->IssueServer("server");
    ASSERT_THAT(server_cert, IsOk());
    grpc::SslServerCredentialsOptions options(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = ca_->ca_cert_pem();
    options.pem_key_cert_pairs.push_back(
        {server_cert->key_pem, server_cert->cert_pem});
    server_ =
        StartServer(grpc::SslServerCredentials(options), &service_, &port_);
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // TLS credentials trusting the test CA, presenting `client` if given.
  std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(
      const testing::IssuedCert* client) const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ca_->ca_cert_pem();
    if (client != nullptr) {
      options.pem_private_key = client->key_pem;
      options.pem_cert_chain = client->cert_pem;
    }
    return grpc::SslCredentials(options);
  }

  std::string Target(const std::string& host = "127.0.0.1") const {
    return host + ":" + std::to_string(port_);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestPki> ca_;
  std::unique_ptr<testing::TestPki> other_ca_;
  RecordingHealth service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

struct IdentityCase {
  std::string name;
  testing::ClientNames names;
  std::vector<Identity> identities;
};

Identity Uri(std::string name) {
  return Identity{IdentityKind::kUri, std::move(name)};
}
Identity Dns(std::string name) {
  return Identity{IdentityKind::kDns, std::move(name)};
}

TEST_F(CallerTest, IdentitiesAreTheUriAndDnsSansNeverTheCn) {
  const std::vector<IdentityCase> cases = {
      {"uri san",
       {"system-a", {"spiffe://example.org/system/A"}, {}},
       {Uri("spiffe://example.org/system/A")}},
      {"dns san",
       {"login", {}, {"login.example.org"}},
       {Dns("login.example.org")}},
      {"uri and dns sans",
       {"admin", {"spiffe://example.org/admin"}, {"admin.example.org"}},
       {Uri("spiffe://example.org/admin"), Dns("admin.example.org")}},
      {"one uri and several dns sans",
       {"multi",
        {"spiffe://example.org/system/B"},
        {"b.example.org", "c.example.org"}},
       {Uri("spiffe://example.org/system/B"), Dns("b.example.org"),
        Dns("c.example.org")}},
      {"a cn that looks like a principal is not one",
       {"spiffe://example.org/login", {"spiffe://example.org/system/A"}, {}},
       {Uri("spiffe://example.org/system/A")}},
      {"a dns san spelled like a uri stays a dns name",
       {"dns-uri", {}, {"spiffe://example.org/admin"}},
       {Dns("spiffe://example.org/admin")}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const IdentityCase& c = cases[i];
    SCOPED_TRACE(c.name);
    auto client = ca_->IssueClient("client" + std::to_string(i), c.names);
    ASSERT_THAT(client, IsOk());
    const grpc::Status status =
        CallCheck(Target(), ClientCredentials(&*client));
    ASSERT_THAT(status, IsOk());
    const std::vector<Caller> callers = service_.TakeCallers();
    ASSERT_EQ(callers.size(), 1u);
    EXPECT_THAT(callers[0].identities, ElementsAreArray(c.identities));
    EXPECT_TRUE(callers[0].authenticated);
  }
}

TEST_F(CallerTest, ACertificateWithOnlyACnIsUnauthenticated) {
  auto client = ca_->IssueClient(
      "cn-only", testing::ClientNames{"spiffe://example.org/admin", {}, {}});
  ASSERT_THAT(client, IsOk());
  const grpc::Status status = CallCheck(Target(), ClientCredentials(&*client));
  ASSERT_THAT(status, IsOk());
  const std::vector<Caller> callers = service_.TakeCallers();
  ASSERT_EQ(callers.size(), 1u);
  EXPECT_THAT(callers[0].identities, IsEmpty());
  EXPECT_FALSE(callers[0].authenticated);
  EXPECT_EQ(PrincipalOf(callers[0]), kUnauthenticatedPrincipal);
}

// Finding 9 of issue 19: one certificate, one SPIFFE ID. Before, a
// certificate naming two systems got the union of their grants.
TEST_F(CallerTest, ACertificateWithTwoUriSansIsRefused) {
  auto client = ca_->IssueClient(
      "two-uris", testing::ClientNames{"two",
                                       {"spiffe://example.org/system/A",
                                        "spiffe://example.org/admin"},
                                       {"a.example.org"}});
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(CallCheck(Target(), ClientCredentials(&*client)), IsOk());
  const std::vector<Caller> callers = service_.TakeCallers();
  ASSERT_EQ(callers.size(), 1u);
  EXPECT_THAT(callers[0].identities, IsEmpty());
  EXPECT_FALSE(callers[0].authenticated);
  EXPECT_THAT(callers[0].refusal, HasSubstr("2 URI subject alternative names"));
  auto policy = Policy::Load(kExamplePolicy, Policy::Reader::kSigild);
  ASSERT_THAT(policy, IsOk());
  EXPECT_THAT(policy->IsAdmin(callers[0]),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(policy->MayVerify(callers[0], "A"),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

// Finding 9 of issue 19: the DNS SAN "spiffe://example.org/admin" got the
// admin grant of the URI principal of that spelling.
TEST_F(CallerTest, ADnsSanSpelledLikeTheAdminUriIsNoAdmin) {
  auto client = ca_->IssueClient(
      "dns-admin",
      testing::ClientNames{"x", {}, {"spiffe://example.org/admin"}});
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(CallCheck(Target(), ClientCredentials(&*client)), IsOk());
  const std::vector<Caller> callers = service_.TakeCallers();
  ASSERT_EQ(callers.size(), 1u);
  auto policy = Policy::Load(kExamplePolicy, Policy::Reader::kSigild);
  ASSERT_THAT(policy, IsOk());
  EXPECT_THAT(policy->IsAdmin(callers[0]),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(CallerTest, HandshakeRefusesAForeignCaOrNoCertificate) {
  auto foreign = other_ca_->IssueClient(
      "foreign", {"admin", {"spiffe://example.org/admin"}, {}});
  ASSERT_THAT(foreign, IsOk());
  struct RefusedCase {
    std::string name;
    const testing::IssuedCert* client;
  };
  for (const RefusedCase& c :
       std::vector<RefusedCase>{{"certificate from another ca", &*foreign},
                                {"no client certificate", nullptr}}) {
    SCOPED_TRACE(c.name);
    const grpc::Status status =
        CallCheck(Target(), ClientCredentials(c.client));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << status.error_message();
  }
  EXPECT_THAT(service_.TakeCallers(), IsEmpty());
}

TEST_F(CallerTest, TheServerCertificateNamesLocalhostAndLoopback) {
  auto client = ca_->IssueClient(
      "client", {"client", {"spiffe://example.org/system/A"}, {}});
  ASSERT_THAT(client, IsOk());
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    const grpc::Status status =
        CallCheck(Target(host), ClientCredentials(&*client));
    EXPECT_THAT(status, IsOk());
  }
}

TEST(CallerOfInsecureTest, APlaintextPeerIsUnauthenticated) {
  RecordingHealth service;
  int port = 0;
  auto server = StartServer(grpc::InsecureServerCredentials(), &service, &port);
  ASSERT_NE(server, nullptr);
  const grpc::Status status = CallCheck("127.0.0.1:" + std::to_string(port),
                                        grpc::InsecureChannelCredentials());
  server->Shutdown();
  ASSERT_THAT(status, IsOk());
  const std::vector<Caller> callers = service.TakeCallers();
  ASSERT_EQ(callers.size(), 1u);
  EXPECT_THAT(callers[0].identities, IsEmpty());
  EXPECT_FALSE(callers[0].authenticated);
}

TEST(PrincipalOfTest, NamesEveryCallerDistinctly) {
  struct Case {
    std::string name;
    Caller caller;
    std::string principal;
  };
  const std::vector<Case> cases = {
      {"one identity",
       {{Uri("spiffe://example.org/login")}, true, "", ""},
       "spiffe://example.org/login"},
      {"several identities",
       {{Uri("spiffe://example.org/admin"), Dns("admin.example.org")},
        true,
        "",
        ""},
       "spiffe://example.org/admin admin.example.org"},
      {"unauthenticated", {}, "<unauthenticated>"},
      {"dev mode", InsecureDevCaller(), "<insecure-dev>"},
      {"anonymous", AnonymousCaller(), "<anonymous>"},
      {"unix peer", UnixPeerCaller(1000), "unix-uid:1000"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(PrincipalOf(c.caller), c.principal);
  }
  EXPECT_FALSE(InsecureDevCaller().authenticated);
  EXPECT_THAT(
      InsecureDevCaller().identities,
      ElementsAre(Identity{IdentityKind::kInsecureDev, "<insecure-dev>"}));
}

// Follow-up finding 2 of issue 19: what sigil-agent puts in the
// sigil-on-behalf-of header is always a valid metadata value that sigild
// accepts, whatever bytes the certificate name held.
TEST(EscapeOnBehalfOfTest, EscapesEveryByteOutsidePrintableAsciiAndPercent) {
  struct Case {
    std::string name;
    std::string principal;
    std::string escaped;
  };
  const std::vector<Case> cases = {
      {"plain", "spiffe://example.org/app/A", "spiffe://example.org/app/A"},
      {"tab", "a\tb", "a%09b"},
      {"space between identities", "a b", "a%20b"},
      {"utf-8", "caf\xc3\xa9", "caf%C3%A9"},
      {"percent", "100%", "100%25"},
      {"nul and del", std::string("x\0y\x7f", 4), "x%00y%7F"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(EscapeOnBehalfOf(c.principal), c.escaped);
    EXPECT_TRUE(IsEscapedOnBehalfOf(c.escaped)) << c.escaped;
  }
}

TEST(EscapeOnBehalfOfTest, CutsALongNameBetweenEscapes) {
  for (const std::string& principal :
       {std::string(5000, 'a'), std::string(2000, '\xff'),
        std::string(kMaxOnBehalfOfBytes - 4, 'a') + "\xff\xff"}) {
    SCOPED_TRACE(principal.size());
    const std::string escaped = EscapeOnBehalfOf(principal);
    EXPECT_LE(escaped.size(), kMaxOnBehalfOfBytes);
    EXPECT_TRUE(absl::EndsWith(escaped, "...")) << escaped.substr(4000);
    EXPECT_TRUE(IsEscapedOnBehalfOf(escaped)) << escaped.substr(4000);
  }
  const std::string fits(kMaxOnBehalfOfBytes, 'a');
  EXPECT_EQ(EscapeOnBehalfOf(fits), fits);
}

TEST(EscapeOnBehalfOfTest, SigildAcceptsOnlyTheEscapedForm) {
  for (const std::string& value :
       {std::string(), std::string("a b"), std::string("a\tb"),
        std::string("caf\xc3\xa9"), std::string("%"), std::string("%4"),
        std::string("%zz"), std::string("%c3"),
        std::string(kMaxOnBehalfOfBytes + 1, 'a')}) {
    EXPECT_FALSE(IsEscapedOnBehalfOf(value)) << absl::CHexEscape(value);
  }
}

}  // namespace
}  // namespace sigil::server::auth
