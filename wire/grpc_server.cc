#include "wire/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>

#include <climits>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"

namespace sigil::wire {
namespace {

// Channel arguments are ints; a duration beyond INT_MAX ms means "never".
int Milliseconds(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

absl::Status CheckLimits(const GrpcServerLimits& limits) {
  if (limits.max_receive_message_bytes <= 0 || limits.max_metadata_bytes <= 0 ||
      limits.max_concurrent_streams <= 0 || limits.max_ping_strikes <= 0 ||
      limits.max_threads <= 0 || limits.max_memory_bytes == 0 ||
      limits.min_client_ping_interval <= absl::ZeroDuration() ||
      limits.keepalive_time <= absl::ZeroDuration() ||
      limits.keepalive_timeout <= absl::ZeroDuration() ||
      limits.handshake_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("grpc server limits must be positive");
  }
  return absl::OkStatus();
}

void ApplyLimits(const GrpcServerLimits& limits, grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(limits.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                             limits.max_metadata_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             limits.max_concurrent_streams);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      Milliseconds(limits.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES,
                             limits.max_ping_strikes);
  // An agent or SDK between two WatchRevocations streams still keeps its
  // connection warm; the interval above bounds what that costs.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             Milliseconds(limits.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Milliseconds(limits.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             Milliseconds(limits.handshake_timeout));
  grpc::ResourceQuota quota;
  quota.Resize(limits.max_memory_bytes);
  quota.SetMaxThreads(limits.max_threads);
  builder.SetResourceQuota(quota);
}

}  // namespace

absl::StatusOr<StartedServer> StartGrpcServer(
    const std::string& listen, grpc::Service* service,
    std::shared_ptr<grpc::ServerCredentials> credentials,
    const GrpcServerLimits& limits,
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors) {
  absl::Status valid = CheckLimits(limits);
  if (!valid.ok()) return valid;
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
  ApplyLimits(limits, builder);
  int selected_port = 0;
  if (!listen.empty()) {
    builder.AddListeningPort(listen, std::move(credentials), &selected_port);
  }
  builder.RegisterService(service);
  if (!interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  StartedServer started;
  started.server = builder.BuildAndStart();
  const bool unix_socket = absl::StartsWith(listen, "unix:");
  if (started.server == nullptr ||
      (selected_port == 0 && !unix_socket && !listen.empty())) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", listen,
                     " (address in use, not permitted, or malformed)"));
  }
  started.port = unix_socket ? 0 : selected_port;
  return started;
}

}  // namespace sigil::wire
