#ifndef SIGIL_WIRE_VERDICT_H_
#define SIGIL_WIRE_VERDICT_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "sigil/v1/identity.pb.h"
#include "token/key_set.h"
#include "token/reason.h"

namespace sigil::wire {

// A verdict as sigil.v1 carries it: the gRPC code name, the reason enum of
// the same name, the message.
sigil::v1::Verdict ToVerdict(token::Reason reason, absl::string_view message);

// nullopt for REASON_UNSPECIFIED or a value this build does not know.
std::optional<token::Reason> FromReason(sigil::v1::Reason reason);

// The key set as GetJwks returns it: JWK Set JSON and the same keys as
// fields.
sigil::v1::GetJwksResponse ToJwksResponse(const token::KeySet& keys);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_VERDICT_H_
