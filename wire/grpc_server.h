#ifndef SIGIL_WIRE_GRPC_SERVER_H_
#define SIGIL_WIRE_GRPC_SERVER_H_

#include <grpcpp/impl/service_type.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/support/server_interceptor.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sigil::wire {

// What one caller can make a Sigil server hold. The defaults are what
// sigild and sigil-agent serve with; tests shrink them to reach the edges
// quickly. A call beyond a limit fails at once (RESOURCE_EXHAUSTED, or
// UNAVAILABLE for a refused stream) instead of queueing without bound.
struct GrpcServerLimits {
  // The largest legitimate request is a Verify of a token of at most
  // token::JwtVerifierOptions().max_token_bytes (8 KiB) plus a system and
  // scopes, or an Issue of at most 32 systems and 64 scopes (about 13 KiB).
  int max_receive_message_bytes = 64 * 1024;
  // One header block: room for an 8 KiB bearer token in metadata, no more.
  int max_metadata_bytes = 16 * 1024;
  // Per connection. HTTP/2 clients queue calls beyond it on their side.
  // gRPC puts every channel of a process to one address on one connection,
  // and each SDK instance holds a WatchRevocations stream that never ends,
  // so this is far above what a process opens, yet bounds one connection.
  int max_concurrent_streams = 1000;
  // Clients holding long WatchRevocations streams may ping this often to
  // keep NATs open; faster pings count as strikes.
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  // Strikes before the connection is closed with GOAWAY too_many_pings.
  int max_ping_strikes = 2;
  // The server's own pings find peers that vanished without a FIN, so their
  // streams and buffers are freed within time + timeout.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // A connection that has not finished its (TLS and HTTP/2) handshake by
  // then is dropped, so idle sockets cannot pile up.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // gRPC's memory for all connections and calls; under pressure new streams
  // are refused rather than the process growing.
  size_t max_memory_bytes = size_t{256} << 20;
  // Threads for synchronous handlers and their pollers. A call arriving
  // when all are busy gets RESOURCE_EXHAUSTED at once.
  int max_threads = 64;
};

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  // The TCP port in use (the one picked for port 0); 0 for a unix socket.
  int port = 0;
};

// Serves `service` (not owned; must outlive the server) on `listen`
// (host:port or unix:PATH; empty: no listener, for a server handed its
// connections by grpc::AddInsecureChannelFromFd) with `credentials`,
// grpc.health.v1, server
// reflection and `limits`, as sigild and sigil-agent both do. The port is
// never shared with another process (no SO_REUSEPORT). FAILED_PRECONDITION
// "cannot listen on ..." when the address is taken or malformed;
// INVALID_ARGUMENT for a limit that is not positive. `interceptors` see
// every call, in order (sigild's metrics).
absl::StatusOr<StartedServer> StartGrpcServer(
    const std::string& listen, grpc::Service* service,
    std::shared_ptr<grpc::ServerCredentials> credentials =
        grpc::InsecureServerCredentials(),
    const GrpcServerLimits& limits = GrpcServerLimits(),
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors = {});

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_GRPC_SERVER_H_
