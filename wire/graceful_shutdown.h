#ifndef SIGIL_WIRE_GRACEFUL_SHUTDOWN_H_
#define SIGIL_WIRE_GRACEFUL_SHUTDOWN_H_

#include <grpcpp/server.h>
#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/time/time.h"

namespace sigil::wire {

// Counts the calls a gRPC server is running, through an interceptor it
// hands out, so that a shutdown can tell calls in flight from connections
// that are merely open. Thread-safe; must outlive the server.
class CallTracker {
 public:
  // For StartGrpcServer's interceptors: counts every call from its start
  // to its end.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory();

  int64_t in_flight() const { return in_flight_.load(); }

 private:
  class Factory;
  class Counted;
  std::atomic<int64_t> in_flight_{0};
};

// Stops `server` gracefully within `grace`: no new calls, calls in flight
// run to their end or until `grace` passes, then every connection closes.
// gRPC's Shutdown(deadline) alone also waits for connections with no call
// (a client that keeps its channel open after GOAWAY holds a stop to the
// whole grace), so once `calls` shows none in flight the connections are
// closed outright: nothing is cut that was running. Long-lived streams are
// the caller's to end first. Returns once Shutdown has returned; call
// server.Wait() after it.
void ShutdownGracefully(grpc::Server& server, const CallTracker& calls,
                        absl::Duration grace);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_GRACEFUL_SHUTDOWN_H_
