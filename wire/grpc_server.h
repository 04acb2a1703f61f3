#ifndef SIGIL_WIRE_GRPC_SERVER_H_
#define SIGIL_WIRE_GRPC_SERVER_H_

#include <grpcpp/impl/service_type.h>
#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace sigil::wire {

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  // The TCP port in use (the one picked for port 0); 0 for a unix socket.
  int port = 0;
};

// Serves `service` (not owned; must outlive the server) on `listen`
// (host:port or unix:PATH, plaintext) with grpc.health.v1 and server
// reflection, as sigild and sigil-agent both do. The port is never shared
// with another process (no SO_REUSEPORT). FAILED_PRECONDITION "cannot
// listen on ..." when the address is taken or malformed.
absl::StatusOr<StartedServer> StartGrpcServer(const std::string& listen,
                                              grpc::Service* service);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_GRPC_SERVER_H_
