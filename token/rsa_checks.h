#ifndef SIGIL_TOKEN_RSA_CHECKS_H_
#define SIGIL_TOKEN_RSA_CHECKS_H_

// Internal to the token library, and not installed: the checks an RSA
// public key from outside (a JWK Set, a PEM file) must pass before it
// verifies anything. Each gives the same answer every time it runs on the
// same key, so a key set cannot load on one fetch and fail on the next.

#include <openssl/types.h>

#include "absl/status/status.h"

namespace sigil::token::internal {

// INVALID_ARGUMENT unless a modulus of `bits` bits is within 2048-8192.
absl::Status CheckRsaModulusBits(int bits);

// INVALID_ARGUMENT unless the public exponent is odd, above 1 and at most
// 64 bits long.
absl::Status CheckRsaExponent(const BIGNUM* e);

// The exponent as CheckRsaExponent, and the modulus: odd, without a small
// prime factor, and neither a prime nor a prime power. INVALID_ARGUMENT
// when either fails, INTERNAL when OpenSSL cannot do the arithmetic.
absl::Status CheckRsaPublicKey(const EVP_PKEY* pkey);

}  // namespace sigil::token::internal

#endif  // SIGIL_TOKEN_RSA_CHECKS_H_
