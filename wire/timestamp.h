#ifndef SIGIL_WIRE_TIMESTAMP_H_
#define SIGIL_WIRE_TIMESTAMP_H_

#include <optional>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace sigil::wire {

// absl::Time <-> google.protobuf.Timestamp, microsecond precision.
// Timestamp spans years 1 to 9999, as every instant Sigil writes does (the
// token library caps NumericDate at 9999); `t` must lie within it.
google::protobuf::Timestamp ToTimestamp(absl::Time t);

// std::nullopt for a Timestamp outside its own range or with nanos outside
// [0, 1e9): no Sigil writer sends one, and protobuf's conversions abort on
// it, so a reader refuses the message it came in.
std::optional<absl::Time> FromTimestamp(const google::protobuf::Timestamp& t);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_TIMESTAMP_H_
