#include "tests/server/service_fixture.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {

using ::sigil::testing::IsOk;

ServiceTest::ServiceTest()
    : clock_(absl::FromCivil(absl::CivilSecond(2026, 11, 29, 8, 0, 0),
                             absl::UTCTimeZone())) {
  options_.listen = "127.0.0.1:0";
  options_.data_dir = dir_.Sub("data");
  options_.authority.issuer = "https://sigil.test";
  options_.authority.default_ttl = kTtl;
}

void ServiceTest::SetUp() { StartServer(); }

void ServiceTest::StartServer() {
  auto server = SigilServer::Start(options_, &clock_);
  ASSERT_THAT(server, IsOk());
  server_ = *std::move(server);
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                 grpc::InsecureChannelCredentials());
  stub_ = sigil::v1::Identity::NewStub(channel_);
}

void ServiceTest::StopServer() {
  stub_.reset();
  channel_.reset();
  server_.reset();
}

std::unique_ptr<grpc::ClientContext> ServiceTest::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  return context;
}

sigil::v1::IssueResponse ServiceTest::Login(
    const std::string& subject, const std::vector<std::string>& systems,
    const std::vector<std::string>& scopes) {
  sigil::v1::IssueRequest request;
  request.set_subject(subject);
  for (const std::string& s : systems) request.add_systems(s);
  for (const std::string& s : scopes) request.add_scopes(s);
  sigil::v1::IssueResponse response;
  grpc::Status status = stub_->Issue(Context().get(), request, &response);
  EXPECT_THAT(status, IsOk());
  return response;
}

sigil::v1::VerifyResponse ServiceTest::Check(
    const std::string& token, const std::string& system,
    const std::vector<std::string>& required_scopes) {
  sigil::v1::VerifyRequest request;
  request.set_token(token);
  request.set_system(system);
  for (const std::string& s : required_scopes) request.add_required_scopes(s);
  sigil::v1::VerifyResponse response;
  grpc::Status status = stub_->Verify(Context().get(), request, &response);
  EXPECT_THAT(status, IsOk());
  return response;
}

sigil::v1::LogoutResponse ServiceTest::LogoutSubject(
    const std::string& subject, const std::string& system) {
  sigil::v1::LogoutFromSystemRequest request;
  request.set_subject(subject);
  request.set_system(system);
  sigil::v1::LogoutResponse response;
  grpc::Status status =
      stub_->LogoutFromSystem(Context().get(), request, &response);
  EXPECT_THAT(status, IsOk());
  return response;
}

sigil::v1::LogoutResponse ServiceTest::LogoutSubjectEverywhere(
    const std::string& subject) {
  sigil::v1::LogoutAllRequest request;
  request.set_subject(subject);
  sigil::v1::LogoutResponse response;
  grpc::Status status = stub_->LogoutAll(Context().get(), request, &response);
  EXPECT_THAT(status, IsOk());
  return response;
}

std::string Outcome(const sigil::v1::VerifyResponse& response) {
  return absl::StrCat(response.verdict().code(), " ",
                      sigil::v1::Reason_Name(response.verdict().reason()));
}

}  // namespace sigil::server
