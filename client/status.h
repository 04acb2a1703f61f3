#ifndef SIGIL_CLIENT_STATUS_H_
#define SIGIL_CLIENT_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace sigil::client {

// The one place where a grpc::Status from the authority becomes the SDK's
// absl::Status: same code, same message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace sigil::client

#endif  // SIGIL_CLIENT_STATUS_H_
