#ifndef SIGIL_TOKEN_JWK_IMPORT_H_
#define SIGIL_TOKEN_JWK_IMPORT_H_

// Internal to the token library, and not installed: turning the public
// members of a JWK into an OpenSSL key, for PublicKey::FromJwk.

#include "absl/status/statusor.h"
#include "token/algorithm.h"
#include "token/key.h"
#include "token/key_internal.h"

namespace sigil::token::internal {

// The public key `jwk` describes for `alg`: EC P-256 (x, y), OKP Ed25519 (x)
// or RSA (n, e). kty and crv must be the ones of `alg`, members of another
// key type must be absent, and every member strict base64url: coordinates
// of their exact size, RSA integers in the fewest octets (RFC 7518 6.3.1).
// The RSA modulus size and exponent are checked here (rsa_checks.h); the
// rest of a key's validation is the caller's. INVALID_ARGUMENT for a JWK
// that breaks a rule, INTERNAL when OpenSSL runs out of memory.
absl::StatusOr<Pkey> PublicKeyFromJwk(const Jwk& jwk, Algorithm alg);

}  // namespace sigil::token::internal

#endif  // SIGIL_TOKEN_JWK_IMPORT_H_
