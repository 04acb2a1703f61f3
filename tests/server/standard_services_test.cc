// What outside tools rely on: grpc.health.v1 for probes and server
// reflection for grpcurl / buf curl.

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/service_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sigil::server {
namespace {

using ::sigil::testing::IsOk;
using StandardServicesTest = ServiceTest;

TEST_F(StandardServicesTest, HealthReportsServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const std::string service : {"", "sigil.v1.Identity"}) {
    SCOPED_TRACE(service);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_THAT(health->Check(Context().get(), request, &response), IsOk());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

TEST_F(StandardServicesTest, ReflectionListsAndDescribesTheIdentityService) {
  using grpc::reflection::v1alpha::ServerReflection;
  using grpc::reflection::v1alpha::ServerReflectionRequest;
  using grpc::reflection::v1alpha::ServerReflectionResponse;
  auto reflection = ServerReflection::NewStub(channel_);
  auto context = Context();
  auto stream = reflection->ServerReflectionInfo(context.get());

  ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::set<std::string> services;
  for (const auto& s : response.list_services_response().service()) {
    services.insert(s.name());
  }
  EXPECT_TRUE(services.count("sigil.v1.Identity")) << response.DebugString();
  EXPECT_TRUE(services.count("grpc.health.v1.Health"))
      << response.DebugString();

  ServerReflectionRequest describe;
  describe.set_file_containing_symbol("sigil.v1.Identity.LogoutFromSystem");
  ASSERT_TRUE(stream->Write(describe));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_GT(response.file_descriptor_response().file_descriptor_proto_size(), 0)
      << response.DebugString();
  stream->WritesDone();
  EXPECT_THAT(stream->Finish(), IsOk());
}

}  // namespace
}  // namespace sigil::server
