#ifndef SIGIL_BENCH_LOAD_TARGET_H_
#define SIGIL_BENCH_LOAD_TARGET_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sigil::bench {

// OK for a gRPC target on this machine only: `unix:PATH`, or `HOST:PORT`
// where HOST is `localhost`, an IPv4 address in 127.0.0.0/8 or `[::1]`.
// Anything else is INVALID_ARGUMENT: a load generator must never be
// pointed at someone else's server by a typo.
absl::Status CheckLoopback(absl::string_view target);

}  // namespace sigil::bench

#endif  // SIGIL_BENCH_LOAD_TARGET_H_
