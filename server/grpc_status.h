#ifndef SIGIL_SERVER_GRPC_STATUS_H_
#define SIGIL_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace sigil::server {

// The one place where the authority's absl::Status becomes a grpc::Status:
// same code, same message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace sigil::server

#endif  // SIGIL_SERVER_GRPC_STATUS_H_
