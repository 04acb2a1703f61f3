#include "wire/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"

namespace sigil::wire {

absl::StatusOr<StartedServer> StartGrpcServer(const std::string& listen,
                                              grpc::Service* service) {
  // gRPC's built-in health service carries no descriptor; touching the
  // generated one links it in, so reflection clients (grpcurl, buf curl
  // --list-methods) can describe grpc.health.v1.Health too.
  grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Without this a second server could bind the same port and split the
  // traffic silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int selected_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(),
                           &selected_port);
  builder.RegisterService(service);
  StartedServer started;
  started.server = builder.BuildAndStart();
  const bool unix_socket = absl::StartsWith(listen, "unix:");
  if (started.server == nullptr || (selected_port == 0 && !unix_socket)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", listen,
                     " (address in use, not permitted, or malformed)"));
  }
  started.port = unix_socket ? 0 : selected_port;
  return started;
}

}  // namespace sigil::wire
