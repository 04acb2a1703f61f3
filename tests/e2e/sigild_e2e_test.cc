// End-to-end tests of the sigild binary, driven from outside the process
// through the generated sigil.v1.Identity stub: the logout story of the
// issue's "Done when" list, durability across kill -9, startup failures and
// hostile tokens. Every sigild runs on a unix socket over a fresh data dir.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sigil/v1/identity.grpc.pb.h"
#include "tests/e2e/sigil_process.h"
#include "token/base64url.h"

namespace sigil {
namespace {

using ::sigil::e2e::kExitTimeout;
using ::sigil::e2e::SigilProcess;
using ::sigil::e2e::SocketDir;
using ::sigil::v1::Identity;

constexpr char kSigildPath[] = SIGIL_BINARY_DIR "/server/sigild";
constexpr char kIssuer[] = "https://sigil.e2e.test";
constexpr absl::Duration kCallDeadline = absl::Seconds(10);

// A fresh directory under the test temp dir, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = ::testing::TempDir() + "sigil_e2e_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern << ": " << strerror(errno);
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Outcome(const sigil::v1::VerifyResponse& response) {
  return absl::StrCat(response.verdict().code(), " ",
                      sigil::v1::Reason_Name(response.verdict().reason()));
}

class SigildTest : public ::testing::Test {
 protected:
  SigildTest()
      : data_dir_(dir_.path() + "/data"),
        listen_(sockets_.Address("sigild.sock")) {}

  // A sigild on the fixture's socket and data dir, not yet started.
  std::unique_ptr<SigilProcess> NewSigild(
      const std::string& listen, std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> args = {absl::StrCat("--listen=", listen),
                                     absl::StrCat("--data_dir=", data_dir_),
                                     absl::StrCat("--issuer=", kIssuer)};
    args.insert(args.end(), extra_flags.begin(), extra_flags.end());
    return std::make_unique<SigilProcess>(
        kSigildPath, std::move(args), listen,
        absl::StrCat(dir_.path(), "/sigild-", ++runs_, ".log"));
  }

  // Starts sigild_ (again, after a stop or kill) and connects stub_.
  void StartSigild(std::vector<std::string> extra_flags = {}) {
    sigild_ = NewSigild(listen_, std::move(extra_flags));
    ASSERT_TRUE(sigild_->Spawn());
    ASSERT_TRUE(sigild_->WaitReady());
    stub_ = Identity::NewStub(
        grpc::CreateChannel(listen_, grpc::InsecureChannelCredentials()));
  }

  // SIGTERMs sigild_ after closing stub_'s connection: a gRPC server's
  // shutdown waits for each connected client to hang up, which an idle C++
  // client does only about 5 s after the server's GOAWAY (see the idle
  // client test).
  int StopSigild() {
    stub_.reset();
    return sigild_->Stop();
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
    return context;
  }

  std::string Login(const std::string& subject,
                    const std::vector<std::string>& systems,
                    const std::vector<std::string>& scopes = {}) {
    sigil::v1::IssueRequest request;
    request.set_subject(subject);
    for (const std::string& system : systems) request.add_systems(system);
    for (const std::string& scope : scopes) request.add_scopes(scope);
    sigil::v1::IssueResponse response;
    const grpc::Status status =
        stub_->Issue(Context().get(), request, &response);
    EXPECT_TRUE(status.ok())
        << "Issue " << subject << ": " << status.error_message();
    EXPECT_FALSE(response.access_token().empty()) << "Issue " << subject;
    return response.access_token();
  }

  sigil::v1::VerifyResponse Check(const std::string& token,
                                  const std::string& system) {
    sigil::v1::VerifyRequest request;
    request.set_token(token);
    request.set_system(system);
    sigil::v1::VerifyResponse response;
    const grpc::Status status =
        stub_->Verify(Context().get(), request, &response);
    EXPECT_TRUE(status.ok())
        << "Verify at " << system << ": RPC " << status.error_code() << " "
        << status.error_message();
    return response;
  }

  // "CODE REASON" of verifying `token` at `system`.
  std::string Verdict(const std::string& token, const std::string& system) {
    return Outcome(Check(token, system));
  }

  sigil::v1::LogoutResponse LogoutFrom(const std::string& subject,
                                       const std::string& system) {
    sigil::v1::LogoutFromSystemRequest request;
    request.set_system(system);
    request.set_subject(subject);
    sigil::v1::LogoutResponse response;
    const grpc::Status status =
        stub_->LogoutFromSystem(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << "LogoutFromSystem " << subject << " " << system
                             << ": " << status.error_message();
    return response;
  }

  sigil::v1::LogoutResponse LogoutEverywhere(const std::string& subject) {
    sigil::v1::LogoutAllRequest request;
    request.set_subject(subject);
    sigil::v1::LogoutResponse response;
    const grpc::Status status =
        stub_->LogoutAll(Context().get(), request, &response);
    EXPECT_TRUE(status.ok())
        << "LogoutAll " << subject << ": " << status.error_message();
    return response;
  }

  sigil::v1::GetJwksResponse Jwks() {
    sigil::v1::GetJwksResponse response;
    const grpc::Status status =
        stub_->GetJwks(Context().get(), sigil::v1::GetJwksRequest(), &response);
    EXPECT_TRUE(status.ok()) << "GetJwks: " << status.error_message();
    return response;
  }

  ScratchDir dir_;
  // Declared before every process, so it outlives them all.
  SocketDir sockets_;
  const std::string data_dir_;
  const std::string listen_;
  int runs_ = 0;
  std::unique_ptr<SigilProcess> sigild_;
  std::unique_ptr<Identity::Stub> stub_;
};

TEST_F(SigildTest, SeparateLoginsLogOutPerSystemAndEverywhere) {
  ASSERT_NO_FATAL_FAILURE(StartSigild());
  const std::string a = Login("u", {"A"});
  const std::string b = Login("u", {"B"});
  const std::string c = Login("u", {"C"});
  EXPECT_EQ(Verdict(a, "A"), "OK VALID");
  EXPECT_EQ(Verdict(b, "B"), "OK VALID");
  EXPECT_EQ(Verdict(c, "C"), "OK VALID");
  EXPECT_EQ(Verdict(a, "B"), "UNAUTHENTICATED WRONG_AUDIENCE");

  std::vector<std::string> earlier_a = {a};
  std::string current_a = a;
  for (int round = 1; round <= 40; ++round) {
    SCOPED_TRACE(absl::StrCat("logout/login round ", round));
    LogoutFrom("u", "A");
    EXPECT_EQ(Verdict(current_a, "A"), "UNAUTHENTICATED LOGGED_OUT");
    EXPECT_EQ(Verdict(b, "B"), "OK VALID");
    EXPECT_EQ(Verdict(c, "C"), "OK VALID");
    current_a = Login("u", {"A"});
    EXPECT_EQ(Verdict(current_a, "A"), "OK VALID");
    earlier_a.push_back(current_a);
  }

  LogoutEverywhere("u");
  for (size_t i = 0; i < earlier_a.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("token ", i, " for A"));
    EXPECT_EQ(Verdict(earlier_a[i], "A"), "UNAUTHENTICATED LOGGED_OUT_ALL");
  }
  EXPECT_EQ(Verdict(b, "B"), "UNAUTHENTICATED LOGGED_OUT_ALL");
  EXPECT_EQ(Verdict(c, "C"), "UNAUTHENTICATED LOGGED_OUT_ALL");
  EXPECT_EQ(Verdict(Login("u", {"A"}), "A"), "OK VALID");
  EXPECT_EQ(Verdict(Login("u", {"B"}), "B"), "OK VALID");
  EXPECT_EQ(StopSigild(), 0);
}

TEST_F(SigildTest, MultiSystemTokenIsDeniedOnlyWhereLoggedOut) {
  ASSERT_NO_FATAL_FAILURE(StartSigild());
  const std::string token = Login("u", {"A", "B", "C"});
  for (const char* system : {"A", "B", "C"}) {
    EXPECT_EQ(Verdict(token, system), "OK VALID") << system;
  }
  EXPECT_EQ(Verdict(token, "D"), "UNAUTHENTICATED WRONG_AUDIENCE");

  LogoutFrom("u", "A");
  EXPECT_EQ(Verdict(token, "A"), "PERMISSION_DENIED LOGGED_OUT_OF_SYSTEM");
  EXPECT_EQ(Verdict(token, "B"), "OK VALID");
  EXPECT_EQ(Verdict(token, "C"), "OK VALID");

  LogoutEverywhere("u");
  for (const char* system : {"A", "B", "C"}) {
    EXPECT_EQ(Verdict(token, system), "UNAUTHENTICATED LOGGED_OUT_ALL")
        << system;
  }
  EXPECT_EQ(StopSigild(), 0);
}

TEST_F(SigildTest, AcknowledgedLogoutsSurviveKill9) {
  constexpr int kSystemLogouts = 30;
  constexpr int kEverywhereLogouts = 4;
  ASSERT_NO_FATAL_FAILURE(StartSigild());
  const sigil::v1::GetJwksResponse jwks_before = Jwks();
  ASSERT_EQ(jwks_before.keys_size(), 2);  // the active and the next key

  std::vector<std::string> at_a(kSystemLogouts);
  std::vector<std::string> at_c(kSystemLogouts);
  for (int i = 0; i < kSystemLogouts; ++i) {
    at_a[i] = Login(absl::StrCat("leaver-", i), {"A"});
    at_c[i] = Login(absl::StrCat("leaver-", i), {"C"});
  }
  std::vector<std::string> everywhere(kEverywhereLogouts);
  for (int i = 0; i < kEverywhereLogouts; ++i) {
    everywhere[i] = Login(absl::StrCat("quitter-", i), {"A", "C"});
  }
  std::vector<std::string> at_b(10);
  for (size_t i = 0; i < at_b.size(); ++i) {
    at_b[i] = Login(absl::StrCat("stayer-", i), {"B"});
  }

  // Interleaved, so that the acknowledged replies right before the kill
  // include both kinds.
  uint64_t last_seq = 0;
  for (int i = 0; i < kSystemLogouts; ++i) {
    if (i % 8 == 0 && i / 8 < kEverywhereLogouts) {
      const uint64_t seq =
          LogoutEverywhere(absl::StrCat("quitter-", i / 8)).revocation_seq();
      EXPECT_GT(seq, last_seq);
      last_seq = seq;
    }
    const uint64_t seq =
        LogoutFrom(absl::StrCat("leaver-", i), "A").revocation_seq();
    EXPECT_GT(seq, last_seq);
    last_seq = seq;
  }
  ASSERT_TRUE(sigild_->Kill9());

  ASSERT_NO_FATAL_FAILURE(StartSigild());
  for (int i = 0; i < kSystemLogouts; ++i) {
    EXPECT_EQ(Verdict(at_a[i], "A"), "UNAUTHENTICATED LOGGED_OUT")
        << "leaver-" << i;
    EXPECT_EQ(Verdict(at_c[i], "C"), "OK VALID") << "leaver-" << i;
  }
  for (int i = 0; i < kEverywhereLogouts; ++i) {
    EXPECT_EQ(Verdict(everywhere[i], "A"), "UNAUTHENTICATED LOGGED_OUT_ALL")
        << "quitter-" << i;
    EXPECT_EQ(Verdict(everywhere[i], "C"), "UNAUTHENTICATED LOGGED_OUT_ALL")
        << "quitter-" << i;
  }
  for (size_t i = 0; i < at_b.size(); ++i) {
    EXPECT_EQ(Verdict(at_b[i], "B"), "OK VALID") << "stayer-" << i;
  }
  EXPECT_EQ(Jwks().jwks_json(), jwks_before.jwks_json());

  // The revocation clock resumed past the revocations it recovered: a login
  // after the restart is not covered by a logout from before the kill.
  EXPECT_EQ(Verdict(Login("leaver-0", {"A"}), "A"), "OK VALID");
  EXPECT_EQ(Verdict(Login("quitter-0", {"C"}), "C"), "OK VALID");
  EXPECT_GT(LogoutFrom("leaver-1", "A").revocation_seq(), last_seq);
  EXPECT_EQ(StopSigild(), 0);
}

TEST_F(SigildTest, RefreshRotationSurvivesKill9AndReuseIsCaughtAfter) {
  // No grace window: any second use of a spent token is reuse.
  const std::vector<std::string> flags = {"--refresh_grace=0s"};
  ASSERT_NO_FATAL_FAILURE(StartSigild(flags));
  auto issue = [&](const std::string& subject) {
    sigil::v1::IssueRequest request;
    request.set_subject(subject);
    request.add_systems("A");
    sigil::v1::IssueResponse response;
    EXPECT_TRUE(stub_->Issue(Context().get(), request, &response).ok());
    return response;
  };
  auto refresh = [&](const std::string& token,
                     sigil::v1::IssueResponse* response) {
    sigil::v1::RefreshRequest request;
    request.set_refresh_token(token);
    return stub_->Refresh(Context().get(), request, response).error_code();
  };
  auto sessions = [&](const std::string& subject) {
    sigil::v1::ListSessionsRequest request;
    request.set_subject(subject);
    sigil::v1::ListSessionsResponse response;
    EXPECT_TRUE(stub_->ListSessions(Context().get(), request, &response).ok());
    return response.sessions_size();
  };

  const sigil::v1::IssueResponse victim = issue("victim");
  const sigil::v1::IssueResponse bystander = issue("bystander");
  sigil::v1::IssueResponse rotated;
  ASSERT_EQ(refresh(victim.refresh_token(), &rotated), grpc::StatusCode::OK);
  ASSERT_TRUE(sigild_->Kill9());

  ASSERT_NO_FATAL_FAILURE(StartSigild(flags));
  EXPECT_EQ(sessions("victim"), 1);
  EXPECT_EQ(Verdict(rotated.access_token(), "A"), "OK VALID");
  // The rotation acknowledged before the kill holds: the spent token is
  // reuse, which ends the session, successor and access tokens included.
  sigil::v1::IssueResponse ignored;
  EXPECT_EQ(refresh(victim.refresh_token(), &ignored),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(refresh(rotated.refresh_token(), &ignored),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Verdict(rotated.access_token(), "A"),
            "UNAUTHENTICATED SESSION_REVOKED");
  EXPECT_EQ(sessions("victim"), 0);
  // Someone else's session was not touched.
  EXPECT_EQ(refresh(bystander.refresh_token(), &ignored), grpc::StatusCode::OK);
  EXPECT_EQ(StopSigild(), 0);
}

TEST_F(SigildTest, SecondSigildOnTheSameDataDirExitsInUse) {
  ASSERT_NO_FATAL_FAILURE(StartSigild());
  auto second = NewSigild(sockets_.Address("second.sock"));
  ASSERT_TRUE(second->Spawn());
  EXPECT_EQ(second->WaitExit(kExitTimeout), 1);
  EXPECT_TRUE(absl::StrContains(second->Log(), "in use")) << second->Log();
  EXPECT_TRUE(absl::StrContains(second->Log(), "sigild: ")) << second->Log();
  // The first one is unharmed.
  EXPECT_EQ(Verdict(Login("u", {"A"}), "A"), "OK VALID");
  EXPECT_EQ(StopSigild(), 0);
}

TEST_F(SigildTest, TakenTcpPortExitsCannotListen) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0) << strerror(errno);
  absl::Cleanup close_fd = [fd] { close(fd); };
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0)
      << strerror(errno);
  ASSERT_EQ(listen(fd, 1), 0) << strerror(errno);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int port = ntohs(address.sin_port);

  auto sigild = NewSigild(absl::StrCat("127.0.0.1:", port));
  ASSERT_TRUE(sigild->Spawn());
  EXPECT_EQ(sigild->WaitExit(kExitTimeout), 1);
  EXPECT_TRUE(absl::StrContains(sigild->Log(), "cannot listen"))
      << sigild->Log();
}

TEST_F(SigildTest, InsecureListenersBeyondLoopbackExitAtOnce) {
  struct Case {
    const char* name;
    std::vector<std::string> flags;
    const char* says;
  };
  const Case cases[] = {
      {"plaintext on every interface", {}, "refusing to serve plaintext"},
      {"an unreadable TLS certificate",
       {"--tls_cert=x.pem", "--tls_key=y.pem"},
       "cannot read the TLS certificate x.pem"},
      {"a policy that could never know a caller",
       {"--allow_insecure", "--policy=policy.textproto"},
       "--policy needs --client_ca"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto sigild = NewSigild("0.0.0.0:0", c.flags);
    ASSERT_TRUE(sigild->Spawn());
    EXPECT_EQ(sigild->WaitExit(kExitTimeout), 1);
    EXPECT_TRUE(absl::StrContains(sigild->Log(), c.says)) << sigild->Log();
    // Refused before the data dir was touched.
    EXPECT_FALSE(std::filesystem::exists(data_dir_ + "/db"));
  }
}

TEST_F(SigildTest, CorruptKeyFileExitsNamingTheFile) {
  ASSERT_NO_FATAL_FAILURE(StartSigild());
  ASSERT_EQ(StopSigild(), 0);

  std::vector<std::filesystem::path> pems;
  for (const auto& entry :
       std::filesystem::directory_iterator(data_dir_ + "/keys")) {
    if (entry.path().extension() == ".pem") pems.push_back(entry.path());
  }
  // The active and the next key: either one unreadable stops the start.
  ASSERT_EQ(pems.size(), 2u) << "key files under " << data_dir_ << "/keys";
  {
    std::ofstream out(pems[0], std::ios::binary | std::ios::trunc);
    out << "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n"
           "-----END PRIVATE KEY-----\n";
  }

  auto sigild = NewSigild(listen_);
  ASSERT_TRUE(sigild->Spawn());
  EXPECT_EQ(sigild->WaitExit(kExitTimeout), 1);
  EXPECT_TRUE(absl::StrContains(sigild->Log(), pems[0].filename().string()))
      << "expected the key file " << pems[0] << " named in: " << sigild->Log();
  EXPECT_TRUE(absl::StrContains(sigild->Log(), "sigild: ")) << sigild->Log();
}

TEST_F(SigildTest, SigtermWithAnIdleClientConnectedStopsWithoutTheGrace) {
  sigild_ = NewSigild(listen_, {"--shutdown_grace=60s"});
  ASSERT_TRUE(sigild_->Spawn());
  ASSERT_TRUE(sigild_->WaitReady());
  stub_ = Identity::NewStub(
      grpc::CreateChannel(listen_, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(Verdict(Login("u", {"A"}), "A"), "OK VALID");

  // stub_ keeps its connection open, as every real client does; no call is
  // in flight, so nothing needs the grace period.
  const absl::Time start = absl::Now();
  EXPECT_EQ(sigild_->Stop(), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(15))
      << "SIGTERM waited for idle connections";
}

TEST_F(SigildTest, SigtermExitsZeroAndTheDataDirReopens) {
  ASSERT_NO_FATAL_FAILURE(StartSigild());
  const std::string kept = Login("u", {"A"});
  const std::string dropped = Login("v", {"A"});
  LogoutFrom("v", "A");
  ASSERT_EQ(StopSigild(), 0);
  EXPECT_TRUE(absl::StrContains(sigild_->Log(), "sigild serving on"))
      << sigild_->Log();

  ASSERT_NO_FATAL_FAILURE(StartSigild());
  EXPECT_EQ(Verdict(kept, "A"), "OK VALID");
  EXPECT_EQ(Verdict(dropped, "A"), "UNAUTHENTICATED LOGGED_OUT");
  EXPECT_EQ(StopSigild(), 0);
}

TEST_F(SigildTest, ServingLineOnAUnixSocketNamesNoPort) {
  ASSERT_NO_FATAL_FAILURE(StartSigild());
  const std::string log = sigild_->Log();
  EXPECT_TRUE(
      absl::StrContains(log, absl::StrCat("sigild serving on ", listen_)))
      << log;
  // SigilServer::port() is documented as 0 for a unix socket, and sigild
  // prints a port only when there is one.
  EXPECT_FALSE(absl::StrContains(log, "(port ")) << log;
  EXPECT_EQ(StopSigild(), 0);
}

TEST_F(SigildTest, LogLevelDropsLinesBelowIt) {
  struct Case {
    std::string level;
    bool info_logged;
  };
  for (const Case& c : {Case{"info", true}, Case{"warning", false}}) {
    SCOPED_TRACE(c.level);
    ASSERT_NO_FATAL_FAILURE(
        StartSigild({absl::StrCat("--log_level=", c.level)}));
    Login("u", {"A"});
    ASSERT_EQ(StopSigild(), 0);
    const std::string log = sigild_->Log();
    EXPECT_EQ(absl::StrContains(log, "INFO sigild serving on"), c.info_logged)
        << log;
    EXPECT_EQ(absl::StrContains(log, "INFO issue subject=u systems=A"),
              c.info_logged)
        << log;
  }
}

TEST_F(SigildTest, BadLogFlagsExitNamingTheChoices) {
  auto sigild = NewSigild(listen_, {"--log_format=xml"});
  ASSERT_TRUE(sigild->Spawn());
  EXPECT_EQ(sigild->WaitExit(kExitTimeout), std::optional<int>(1));
  EXPECT_TRUE(absl::StrContains(sigild->Log(), "want text or json"))
      << sigild->Log();
}

// OpenSSL helpers for forging tokens.

struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct EvpPkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct EcGroupFree {
  void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxFree>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, EcGroupFree>;

std::string B64(absl::string_view data) { return token::Base64UrlEncode(data); }

std::string Unb64(absl::string_view text) {
  auto decoded = token::Base64UrlDecode(text);
  EXPECT_TRUE(decoded.ok()) << text;
  return decoded.ok() ? *decoded : "";
}

std::string Hmac(const char* digest, absl::string_view key,
                 absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t length = 0;
  EXPECT_NE(
      EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, key.data(),
                key.size(), reinterpret_cast<const unsigned char*>(data.data()),
                data.size(), out, sizeof(out), &length),
      nullptr);
  return std::string(reinterpret_cast<char*>(out), length);
}

// The P-256 public key with uncompressed point `point` (04 || x || y).
EvpPkeyPtr P256PublicKey(const std::string& point) {
  char group[] = "prime256v1";
  std::string octets = point;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, octets.data(),
                                        octets.size()),
      OSSL_PARAM_construct_end()};
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  EXPECT_EQ(EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params), 1);
  return EvpPkeyPtr(key);
}

std::string SpkiPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string SpkiDer(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  EXPECT_GT(length, 0);
  std::string out(reinterpret_cast<char*>(der), length > 0 ? length : 0);
  OPENSSL_free(der);
  return out;
}

std::string UncompressedPoint(EVP_PKEY* key) {
  unsigned char point[65];
  size_t length = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point,
                                            sizeof(point), &length),
            1);
  return std::string(reinterpret_cast<char*>(point), length);
}

// JWS r||s from a DER ECDSA-Sig-Value.
std::string DerToP1363(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  EXPECT_NE(sig, nullptr);
  unsigned char out[64] = {};
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32);
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

std::string P1363ToDer(const std::string& rs) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r =
      BN_bin2bn(reinterpret_cast<const unsigned char*>(rs.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(rs.data()) + 32,
                        32, nullptr);
  EXPECT_EQ(ECDSA_SIG_set0(sig.get(), r, s), 1);
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig.get(), &der);
  EXPECT_GT(length, 0);
  std::string out(reinterpret_cast<char*>(der), length > 0 ? length : 0);
  OPENSSL_free(der);
  return out;
}

// n, the order of the P-256 group, as 32 big-endian bytes.
std::string P256Order() {
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  unsigned char out[32] = {};
  EXPECT_EQ(BN_bn2binpad(EC_GROUP_get0_order(group.get()), out, sizeof(out)),
            32);
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

// An attacker's own P-256 key.
class AttackerKey {
 public:
  AttackerKey() : key_(EVP_EC_gen("P-256")) { EXPECT_NE(key_, nullptr); }

  std::string SignEs256(absl::string_view input) const {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                                 key_.get()),
              1);
    size_t length = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()),
              1);
    std::string der(length, '\0');
    EXPECT_EQ(
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()),
                       &length, data, input.size()),
        1);
    der.resize(length);
    return DerToP1363(der);
  }

  // The public JWK, as an attacker would embed it in a header.
  std::string JwkJson(absl::string_view kid) const {
    const std::string point = UncompressedPoint(key_.get());
    return absl::StrCat(R"({"kty":"EC","crv":"P-256","kid":")", kid,
                        R"(","x":")", B64(point.substr(1, 32)), R"(","y":")",
                        B64(point.substr(33, 32)), R"("})");
  }

 private:
  EvpPkeyPtr key_;
};

struct HostileCase {
  std::string name;
  std::string token;
  sigil::v1::Reason reason;
};

// A token with `header` (JSON) over `payload` (already base64url), signed by
// `sign` applied to the signing input.
template <typename Sign>
std::string Forge(absl::string_view header, absl::string_view payload,
                  Sign sign) {
  const std::string input = absl::StrCat(B64(header), ".", payload);
  return absl::StrCat(input, ".", B64(sign(input)));
}

TEST_F(SigildTest, HostileTokensAreUnauthenticatedAndTheServerStaysUp) {
  using sigil::v1::Reason;
  ASSERT_NO_FATAL_FAILURE(StartSigild());

  // A run of '~' (0x7e) puts '-' into the payload's base64url whatever its
  // alignment, so that the standard base64 alphabet spells it differently.
  const std::string victim = "victim~~~~~~";
  // A genuine token whose signature segment also holds a '-' or '_'.
  std::string genuine;
  std::vector<std::string> parts;
  for (int attempt = 0; attempt < 64; ++attempt) {
    genuine = Login(victim, {"A"}, {"orders.read"});
    parts = absl::StrSplit(genuine, '.');
    ASSERT_EQ(parts.size(), 3u) << genuine;
    if (parts[2].find_first_of("-_") != std::string::npos) break;
  }
  ASSERT_NE(parts[1].find('-'), std::string::npos) << parts[1];
  ASSERT_NE(parts[2].find_first_of("-_"), std::string::npos) << parts[2];
  ASSERT_EQ(Verdict(genuine, "A"), "OK VALID");
  const std::string& header = parts[0];
  const std::string& payload = parts[1];
  const std::string signature = Unb64(parts[2]);
  ASSERT_EQ(signature.size(), 64u);

  // The active key, which signed the genuine token.
  const sigil::v1::GetJwksResponse jwks = Jwks();
  const sigil::v1::Jwk* signing = nullptr;
  for (const sigil::v1::Jwk& key : jwks.keys()) {
    if (absl::StrContains(Unb64(parts[0]),
                          absl::StrCat("\"kid\":\"", key.kid(), "\""))) {
      signing = &key;
    }
  }
  ASSERT_NE(signing, nullptr) << Unb64(parts[0]);
  const sigil::v1::Jwk& jwk = *signing;
  ASSERT_EQ(jwk.alg(), "ES256");
  const std::string kid = jwk.kid();
  const std::string x = Unb64(jwk.x());
  const std::string y = Unb64(jwk.y());
  const std::string point = absl::StrCat("\x04", x, y);
  EvpPkeyPtr server_key = P256PublicKey(point);
  ASSERT_NE(server_key, nullptr);
  const std::string pem = SpkiPem(server_key.get());
  const std::string der = SpkiDer(server_key.get());
  const std::string jwk_json =
      absl::StrCat(R"({"kty":"EC","crv":"P-256","kid":")", kid, R"(","x":")",
                   jwk.x(), R"(","y":")", jwk.y(), R"(","alg":"ES256"})");

  auto header_json = [&](absl::string_view alg, absl::string_view extra) {
    return absl::StrCat(R"({"alg":")", alg, R"(","kid":")", kid,
                        R"(","typ":"at+jwt")", extra, "}");
  };
  const std::string es256 = header_json("ES256", "");
  const AttackerKey attacker;
  auto attacker_sign = [&](absl::string_view input) {
    return attacker.SignEs256(input);
  };
  auto fixed = [](std::string sig) {
    return [sig](absl::string_view) { return sig; };
  };
  auto hmac = [](const char* digest, std::string key) {
    return [digest, key](absl::string_view input) {
      return Hmac(digest, key, input);
    };
  };
  auto with_signature = [&](const std::string& sig) {
    return absl::StrCat(header, ".", payload, ".", B64(sig));
  };
  auto with_kid = [&](absl::string_view kid_json) {
    return absl::StrCat(B64(absl::StrCat(R"({"alg":"ES256","kid":)", kid_json,
                                         R"(,"typ":"at+jwt"})")),
                        ".", payload, ".", parts[2]);
  };

  const std::string order = P256Order();

  std::string flipped = signature;
  flipped[10] ^= 0x01;
  std::string flipped_s = signature;
  flipped_s[63] ^= 0x80;

  std::string payload_json = Unb64(payload);
  const std::string quoted_victim = absl::StrCat("\"", victim, "\"");
  ASSERT_TRUE(absl::StrContains(payload_json, quoted_victim)) << payload_json;
  const std::string changed_payload =
      B64(absl::StrReplaceAll(payload_json, {{quoted_victim, "\"admin\""}}));
  const std::string more_scope_payload =
      B64(absl::StrReplaceAll(payload_json, {{"orders.read", "orders.write"}}));

  // The signature's last character carries 4 unused bits; setting one gives
  // a second spelling of the same bytes.
  constexpr absl::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string noncanonical = genuine;
  noncanonical.back() = kAlphabet[kAlphabet.find(genuine.back()) | 1];
  ASSERT_NE(noncanonical, genuine);
  auto standard_alphabet = [](absl::string_view segment) {
    return absl::StrReplaceAll(segment, {{"-", "+"}, {"_", "/"}});
  };

  const std::string big_kid =
      absl::StrCat("\"", std::string(10 * 1024, 'k'), "\"");
  // Over the header's own 4 KiB cap, under the token's 8 KiB one.
  const std::string oversized_header_kid =
      absl::StrCat("\"", std::string(5 * 1024, 'k'), "\"");
  const std::string long_kid =
      absl::StrCat("\"", std::string(3 * 1024, 'k'), "\"");

  const std::vector<HostileCase> cases = {
      // alg none, in several spellings, with and without a signature.
      {"alg none", Forge(header_json("none", ""), payload, fixed("")),
       Reason::UNSUPPORTED_ALGORITHM},
      {"alg None", Forge(header_json("None", ""), payload, fixed("")),
       Reason::UNSUPPORTED_ALGORITHM},
      {"alg NONE", Forge(header_json("NONE", ""), payload, fixed("")),
       Reason::UNSUPPORTED_ALGORITHM},
      {"alg nOnE", Forge(header_json("nOnE", ""), payload, fixed("")),
       Reason::UNSUPPORTED_ALGORITHM},
      {"alg none with the genuine signature",
       Forge(header_json("none", ""), payload, fixed(signature)),
       Reason::UNSUPPORTED_ALGORITHM},
      {"alg empty", Forge(header_json("", ""), payload, fixed("")),
       Reason::UNSUPPORTED_ALGORITHM},
      // HMAC keyed with the server's public key, in every encoding.
      {"HS256 keyed with the JWK JSON",
       Forge(header_json("HS256", ""), payload, hmac("SHA256", jwk_json)),
       Reason::UNSUPPORTED_ALGORITHM},
      {"HS256 keyed with the served JWKS JSON",
       Forge(header_json("HS256", ""), payload,
             hmac("SHA256", jwks.jwks_json())),
       Reason::UNSUPPORTED_ALGORITHM},
      {"HS256 keyed with raw x",
       Forge(header_json("HS256", ""), payload, hmac("SHA256", x)),
       Reason::UNSUPPORTED_ALGORITHM},
      {"HS256 keyed with the uncompressed point",
       Forge(header_json("HS256", ""), payload, hmac("SHA256", point)),
       Reason::UNSUPPORTED_ALGORITHM},
      {"HS256 keyed with the PEM",
       Forge(header_json("HS256", ""), payload, hmac("SHA256", pem)),
       Reason::UNSUPPORTED_ALGORITHM},
      {"HS256 keyed with the DER",
       Forge(header_json("HS256", ""), payload, hmac("SHA256", der)),
       Reason::UNSUPPORTED_ALGORITHM},
      {"HS512 keyed with the PEM",
       Forge(header_json("HS512", ""), payload, hmac("SHA512", pem)),
       Reason::UNSUPPORTED_ALGORITHM},
      {"hs256 lowercase keyed with raw x",
       Forge(header_json("hs256", ""), payload, hmac("SHA256", x)),
       Reason::UNSUPPORTED_ALGORITHM},
      // Algorithms the key is not for.
      {"ES384 header", Forge(header_json("ES384", ""), payload, attacker_sign),
       Reason::UNSUPPORTED_ALGORITHM},
      {"EdDSA header on an ES256 key",
       Forge(header_json("EdDSA", ""), payload, fixed(signature)),
       Reason::ALGORITHM_MISMATCH},
      {"RS256 header on an ES256 key",
       Forge(header_json("RS256", ""), payload, fixed(std::string(256, 'r'))),
       Reason::ALGORITHM_MISMATCH},
      // Broken ES256 signatures.
      {"ES256 r=s=0", with_signature(std::string(64, '\0')),
       Reason::BAD_SIGNATURE},
      {"ES256 r=s=n", with_signature(order + order), Reason::BAD_SIGNATURE},
      {"ES256 r=n s=genuine", with_signature(order + signature.substr(32)),
       Reason::BAD_SIGNATURE},
      {"DER-encoded genuine r,s", with_signature(P1363ToDer(signature)),
       Reason::BAD_SIGNATURE},
      {"signature bit flipped in r", with_signature(flipped),
       Reason::BAD_SIGNATURE},
      {"signature bit flipped in s", with_signature(flipped_s),
       Reason::BAD_SIGNATURE},
      {"signature truncated to 63 bytes",
       with_signature(signature.substr(0, 63)), Reason::BAD_SIGNATURE},
      {"signature truncated to r", with_signature(signature.substr(0, 32)),
       Reason::BAD_SIGNATURE},
      {"signature extended by a zero byte",
       with_signature(signature + std::string(1, '\0')), Reason::BAD_SIGNATURE},
      {"signature doubled", with_signature(signature + signature),
       Reason::BAD_SIGNATURE},
      {"signed by an attacker key", Forge(es256, payload, attacker_sign),
       Reason::BAD_SIGNATURE},
      {"payload changed, old signature",
       absl::StrCat(header, ".", changed_payload, ".", parts[2]),
       Reason::BAD_SIGNATURE},
      {"scope widened, old signature",
       absl::StrCat(header, ".", more_scope_payload, ".", parts[2]),
       Reason::BAD_SIGNATURE},
      // Other spellings of the genuine token.
      // The signature segment is decoded only after the key lookup, so its
      // encoding errors are BAD_SIGNATURE (token/jws.h); the header's and
      // payload's are MALFORMED.
      {"padded signature", genuine + "==", Reason::BAD_SIGNATURE},
      {"padded payload", absl::StrCat(header, ".", payload, "=.", parts[2]),
       Reason::MALFORMED},
      {"padded header", absl::StrCat(header, "=.", payload, ".", parts[2]),
       Reason::MALFORMED},
      {"non-canonical trailing bits", noncanonical, Reason::BAD_SIGNATURE},
      {"standard base64 alphabet in the payload",
       absl::StrCat(header, ".", standard_alphabet(payload), ".", parts[2]),
       Reason::MALFORMED},
      {"standard base64 alphabet in the signature",
       absl::StrCat(header, ".", payload, ".", standard_alphabet(parts[2])),
       Reason::BAD_SIGNATURE},
      // Key ids.
      {"unknown kid", with_kid(R"("no-such-key")"), Reason::UNKNOWN_KEY},
      {"kid path traversal", with_kid(R"("../../etc/passwd")"),
       Reason::UNKNOWN_KEY},
      {"kid path traversal to the key dir",
       with_kid(absl::StrCat(R"("../keys/)", kid, R"(")")),
       Reason::UNKNOWN_KEY},
      {"kid SQL injection", with_kid(R"("x' OR '1'='1")"), Reason::UNKNOWN_KEY},
      {"kid SQL statement", with_kid(R"("k\"; DROP TABLE keys; --")"),
       Reason::UNKNOWN_KEY},
      {"kid of 3 KB", with_kid(long_kid), Reason::UNKNOWN_KEY},
      {"kid of 5 KB", with_kid(oversized_header_kid), Reason::MALFORMED},
      {"kid of 10 KB", with_kid(big_kid), Reason::TOKEN_TOO_LARGE},
      {"kid with an escaped NUL",
       with_kid(absl::StrCat(R"(")", kid, R"(\u0000")")), Reason::MALFORMED},
      {"kid NUL only", with_kid(R"("\u0000")"), Reason::MALFORMED},
      {"kid number", with_kid("7"), Reason::MALFORMED},
      {"kid object", with_kid(R"({"kid":"x"})"), Reason::MALFORMED},
      // Attacker-controlled key sources and crit.
      {"jwk header with an attacker key",
       Forge(header_json("ES256",
                         absl::StrCat(R"(,"jwk":)", attacker.JwkJson(kid))),
             payload, attacker_sign),
       Reason::FORBIDDEN_HEADER},
      {"jku header",
       Forge(header_json("ES256",
                         R"(,"jku":"https://attacker.example/jwks.json")"),
             payload, attacker_sign),
       Reason::FORBIDDEN_HEADER},
      {"x5u header",
       Forge(header_json("ES256", R"(,"x5u":"https://attacker.example/k.pem")"),
             payload, attacker_sign),
       Reason::FORBIDDEN_HEADER},
      {"x5c header",
       Forge(header_json("ES256",
                         absl::StrCat(R"(,"x5c":[")", B64(der), R"("])")),
             payload, attacker_sign),
       Reason::FORBIDDEN_HEADER},
      {"crit b64",
       Forge(header_json("ES256", R"(,"b64":false,"crit":["b64"])"), payload,
             attacker_sign),
       Reason::FORBIDDEN_HEADER},
      {"typ JWT",
       Forge(
           absl::StrCat(R"({"alg":"ES256","kid":")", kid, R"(","typ":"JWT"})"),
           payload, attacker_sign),
       Reason::WRONG_TOKEN_TYPE},
      // Shapes that are not a compact JWS.
      {"two segments", absl::StrCat(header, ".", payload), Reason::MALFORMED},
      {"four segments", genuine + ".", Reason::MALFORMED},
      {"five segments", absl::StrCat(genuine, ".", parts[2], ".", parts[2]),
       Reason::MALFORMED},
      // Claims are parsed only once the signature holds.
      {"empty payload", absl::StrCat(header, "..", parts[2]),
       Reason::BAD_SIGNATURE},
      {"JSON serialization, flattened",
       absl::StrCat(R"({"payload":")", payload, R"(","protected":")", header,
                    R"(","signature":")", parts[2], R"("})"),
       Reason::MALFORMED},
      {"JSON serialization, general",
       absl::StrCat(R"({"payload":")", payload,
                    R"(","signatures":[{"protected":")", header,
                    R"(","signature":")", parts[2], R"("}]})"),
       Reason::MALFORMED},
      {"leading space", " " + genuine, Reason::MALFORMED},
      {"trailing newline", genuine + "\n", Reason::BAD_SIGNATURE},
      {"space after a dot", absl::StrCat(header, ". ", payload, ".", parts[2]),
       Reason::MALFORMED},
      {"tab inside the signature",
       absl::StrCat(header, ".", payload, ".", parts[2].substr(0, 40), "\t",
                    parts[2].substr(40)),
       Reason::BAD_SIGNATURE},
      {"tab inside the header",
       absl::StrCat(header.substr(0, 8), "\t", header.substr(8), ".", payload,
                    ".", parts[2]),
       Reason::MALFORMED},
      {"trailing NUL byte", genuine + std::string(1, '\0'),
       Reason::BAD_SIGNATURE},
      {"newline inside the payload",
       absl::StrCat(header, ".", payload.substr(0, 8), "\n", payload.substr(8),
                    ".", parts[2]),
       Reason::MALFORMED},
      // Over the verifier's cap, under the transport's message cap.
      {"32 KiB token",
       absl::StrCat(header, ".", std::string(32 << 10, 'A'), ".", parts[2]),
       Reason::TOKEN_TOO_LARGE},
      {"40k dots", std::string(40000, '.'), Reason::TOKEN_TOO_LARGE},
  };

  for (const HostileCase& c : cases) {
    SCOPED_TRACE(c.name);
    const sigil::v1::VerifyResponse response = Check(c.token, "A");
    EXPECT_EQ(Outcome(response), absl::StrCat("UNAUTHENTICATED ",
                                              sigil::v1::Reason_Name(c.reason)))
        << response.verdict().message();
    EXPECT_FALSE(response.has_claims());
    EXPECT_FALSE(response.has_cache_until());
  }

  // Past the transport's message cap the request is refused unread.
  sigil::v1::VerifyRequest huge;
  huge.set_token(std::string(1 << 20, 'A'));
  huge.set_system("A");
  sigil::v1::VerifyResponse refused;
  EXPECT_EQ(stub_->Verify(Context().get(), huge, &refused).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  ASSERT_TRUE(sigild_->running()) << "sigild died during the hostile table";
  EXPECT_EQ(Verdict(genuine, "A"), "OK VALID");
  EXPECT_EQ(Verdict(Login(victim, {"A"}), "A"), "OK VALID");
  EXPECT_EQ(StopSigild(), 0);
}

}  // namespace
}  // namespace sigil
