#ifndef SIGIL_WIRE_CLAIMS_H_
#define SIGIL_WIRE_CLAIMS_H_

#include "sigil/v1/identity.pb.h"
#include "token/jwt.h"

namespace sigil::wire {

// token::JwtClaims <-> sigil.v1.Claims, microsecond precision.
sigil::v1::Claims ToClaims(const token::JwtClaims& claims);
token::JwtClaims FromClaims(const sigil::v1::Claims& claims);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_CLAIMS_H_
