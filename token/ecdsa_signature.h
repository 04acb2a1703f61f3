#ifndef SIGIL_TOKEN_ECDSA_SIGNATURE_H_
#define SIGIL_TOKEN_ECDSA_SIGNATURE_H_

// Internal to the token library, and not installed: an ES256 signature in
// its two forms. JWS carries r||s, each 32 bytes big-endian (RFC 7518 3.4);
// OpenSSL signs and verifies the DER of ECDSA-Sig-Value.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigil::token::internal {

// r||s as DER, for verification. A BAD_SIGNATURE verdict unless it is 64
// bytes and r and s are both in [1, n-1], n the order of P-256; INTERNAL
// when OpenSSL cannot encode it.
absl::StatusOr<std::string> Es256SignatureToDer(absl::string_view signature);

// OpenSSL's DER signature as the 64-byte r||s of a JWS. INTERNAL when it
// does not decode.
absl::StatusOr<std::string> DerToEs256Signature(absl::string_view der);

}  // namespace sigil::token::internal

#endif  // SIGIL_TOKEN_ECDSA_SIGNATURE_H_
