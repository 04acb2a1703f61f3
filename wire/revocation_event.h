#ifndef SIGIL_WIRE_REVOCATION_EVENT_H_
#define SIGIL_WIRE_REVOCATION_EVENT_H_

#include <optional>

#include "sigil/v1/identity.pb.h"
#include "token/revocation_index.h"

namespace sigil::wire {

// token::Revocation <-> sigil.v1.RevocationEvent, the one mapping the store,
// the WatchRevocations stream and its subscribers share. Times keep
// microsecond precision.
sigil::v1::RevocationEvent ToEvent(const token::Revocation& revocation);

// nullopt for an event whose scope is unknown or unset: applying it as some
// other scope could under- or over-revoke.
std::optional<token::Revocation> FromEvent(
    const sigil::v1::RevocationEvent& event);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_REVOCATION_EVENT_H_
