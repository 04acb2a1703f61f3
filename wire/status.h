#ifndef SIGIL_WIRE_STATUS_H_
#define SIGIL_WIRE_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace sigil::wire {

// The one conversion between the inside's absl::Status and gRPC's, used at
// every edge (the authority, the SDK, the agent): same code, same message.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_STATUS_H_
