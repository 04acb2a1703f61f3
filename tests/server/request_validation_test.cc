// Malformed requests are INVALID_ARGUMENT with a message that says what is
// wrong, and change nothing.

#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"

namespace sigil::server {
namespace {

using RequestValidationTest = ServiceTest;

struct Case {
  std::string name;
  std::function<grpc::Status(sigil::v1::Identity::Stub&, grpc::ClientContext*)>
      call;
  std::string message;  // a part of the error message
};

sigil::v1::IssueRequest IssueOf(const std::string& subject,
                                const std::vector<std::string>& systems) {
  sigil::v1::IssueRequest r;
  r.set_subject(subject);
  for (const std::string& s : systems) r.add_systems(s);
  return r;
}

Case IssueCase(std::string name, sigil::v1::IssueRequest request,
               std::string message) {
  return {std::move(name),
          [request](sigil::v1::Identity::Stub& stub, grpc::ClientContext* ctx) {
            sigil::v1::IssueResponse response;
            return stub.Issue(ctx, request, &response);
          },
          std::move(message)};
}

TEST_F(RequestValidationTest, BadRequestsAreInvalidArgumentWithAReason) {
  sigil::v1::IssueRequest bad_scope = IssueOf("u", {"A"});
  bad_scope.add_scopes("two words");
  sigil::v1::IssueRequest long_ttl = IssueOf("u", {"A"});
  long_ttl.mutable_ttl()->set_seconds(48 * 3600);
  sigil::v1::IssueRequest negative_ttl = IssueOf("u", {"A"});
  negative_ttl.mutable_ttl()->set_seconds(-5);
  std::vector<std::string> many_systems;
  for (int i = 0; i < 33; ++i) many_systems.push_back("S" + std::to_string(i));
  sigil::v1::IssueRequest huge = IssueOf("u", {"A"});
  for (int i = 0; i < 64; ++i) {
    huge.add_scopes(std::string(120, 'a' + i % 26) + std::to_string(i));
  }
  sigil::v1::IssueRequest zero_ttl = IssueOf("u", {"A"});
  zero_ttl.mutable_ttl()->set_nanos(1000);

  const std::vector<Case> cases = {
      IssueCase("empty subject", IssueOf("", {"A"}), "subject is required"),
      IssueCase("no system", IssueOf("u", {}), "at least one system"),
      IssueCase("empty system", IssueOf("u", {""}), "system is required"),
      IssueCase("system with space", IssueOf("u", {"A B"}), "may only contain"),
      IssueCase("system with NUL", IssueOf("u", {std::string("A\0B", 3)}),
                "may only contain"),
      IssueCase("duplicate system", IssueOf("u", {"A", "A"}), "listed twice"),
      IssueCase("subject with newline", IssueOf("u\nv", {"A"}),
                "without control characters"),
      IssueCase("subject with C1 control", IssueOf("u\xc2\x85", {"A"}),
                "without control characters"),
      IssueCase("subject too long", IssueOf(std::string(300, 'u'), {"A"}),
                "longer than 256"),
      IssueCase("scope with space", bad_scope, "scope-token"),
      IssueCase("33 systems", IssueOf("u", many_systems), "at most 32"),
      IssueCase("token over the verifiers' cap", huge, "verifiers accept"),
      IssueCase("ttl too long", long_ttl, "ttl must be between"),
      IssueCase("negative ttl", negative_ttl, "ttl must be a positive"),
      IssueCase("sub-second ttl", zero_ttl, "ttl must be between"),
      {"verify without token",
       [](sigil::v1::Identity::Stub& stub, grpc::ClientContext* ctx) {
         sigil::v1::VerifyRequest r;
         r.set_system("A");
         sigil::v1::VerifyResponse response;
         return stub.Verify(ctx, r, &response);
       },
       "token is required"},
      {"verify without system",
       [](sigil::v1::Identity::Stub& stub, grpc::ClientContext* ctx) {
         sigil::v1::VerifyRequest r;
         r.set_token("a.b.c");
         sigil::v1::VerifyResponse response;
         return stub.Verify(ctx, r, &response);
       },
       "system is required"},
      {"logout without subject or token",
       [](sigil::v1::Identity::Stub& stub, grpc::ClientContext* ctx) {
         sigil::v1::LogoutFromSystemRequest r;
         r.set_system("A");
         sigil::v1::LogoutResponse response;
         return stub.LogoutFromSystem(ctx, r, &response);
       },
       "exactly one of subject or token"},
      {"logout without system",
       [](sigil::v1::Identity::Stub& stub, grpc::ClientContext* ctx) {
         sigil::v1::LogoutFromSystemRequest r;
         r.set_subject("u");
         sigil::v1::LogoutResponse response;
         return stub.LogoutFromSystem(ctx, r, &response);
       },
       "system is required"},
      {"logout all without subject",
       [](sigil::v1::Identity::Stub& stub, grpc::ClientContext* ctx) {
         sigil::v1::LogoutAllRequest r;
         sigil::v1::LogoutResponse response;
         return stub.LogoutAll(ctx, r, &response);
       },
       "exactly one of subject or token"},
      {"revoke without token",
       [](sigil::v1::Identity::Stub& stub, grpc::ClientContext* ctx) {
         sigil::v1::RevokeRequest r;
         sigil::v1::RevokeResponse response;
         return stub.Revoke(ctx, r, &response);
       },
       "token is required"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const grpc::Status status = c.call(*stub_, Context().get());
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find(c.message), std::string::npos)
        << status.error_message();
  }
}

}  // namespace
}  // namespace sigil::server
