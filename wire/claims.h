#ifndef SIGIL_WIRE_CLAIMS_H_
#define SIGIL_WIRE_CLAIMS_H_

#include <optional>

#include "sigil/v1/identity.pb.h"
#include "token/jwt.h"

namespace sigil::wire {

// token::JwtClaims <-> sigil.v1.Claims, microsecond precision. FromClaims
// is std::nullopt when a time is outside Timestamp's range (see
// wire/timestamp.h).
sigil::v1::Claims ToClaims(const token::JwtClaims& claims);
std::optional<token::JwtClaims> FromClaims(const sigil::v1::Claims& claims);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_CLAIMS_H_
