#ifndef SIGIL_TOKEN_JWS_H_
#define SIGIL_TOKEN_JWS_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "token/algorithm.h"
#include "token/key.h"
#include "token/key_set.h"

// Internal to the token library: the compact JWS layer (RFC 7515 section
// 7.1) under JwtVerifier and JwtSigner. It knows nothing of claims, so the
// external JWS test vectors run through it unchanged. Every failure is a
// VerdictError.

namespace sigil::token {

constexpr size_t kDefaultMaxJwsBytes = 8 * 1024;

struct JwsHeader {
  Algorithm alg;
  std::optional<std::string> kid;
  std::optional<std::string> typ;
};

// A compact JWS whose structure and protected header passed every check that
// needs no key. Nothing in it is authenticated yet.
struct UnverifiedJws {
  JwsHeader header;
  std::string signing_input;  // "<header>.<payload>" exactly as received
  std::string payload;        // decoded
  // Still base64url: a signature that does not decode is a bad signature,
  // reported after the key lookup like any other.
  std::string signature_segment;
};

// In this order: the size cap before any decoding (TOKEN_TOO_LARGE); exactly
// three segments (MALFORMED, which also covers JSON serialization); strict
// base64url and strict JSON for the header (MALFORMED); "crit", "jku",
// "x5u", "jwk", "x5c" and "b64" refused (FORBIDDEN_HEADER); "alg" present
// and supported (UNSUPPORTED_ALGORITHM); "kid" and "typ" strings when
// present and the payload strict base64url (MALFORMED).
absl::StatusOr<UnverifiedJws> ParseJwsCompact(absl::string_view token,
                                              size_t max_token_bytes);

// Looks the key up by the header's "kid", which is required (UNKNOWN_KEY),
// checks that the key's algorithm is the header's (ALGORITHM_MISMATCH) and
// then the signature (BAD_SIGNATURE). Returns the key that verified.
absl::StatusOr<const PublicKey*> VerifyJwsSignature(const UnverifiedJws& jws,
                                                    const KeySet& keys);

// As above against one given key, for JWS that do not come from Sigil (test
// vectors): "kid" may be absent, but when both the header and the key have
// one they must be equal (UNKNOWN_KEY).
absl::Status VerifyJwsSignature(const UnverifiedJws& jws, const PublicKey& key);

// ParseJwsCompact, then VerifyJwsSignature with `key`; the decoded payload.
absl::StatusOr<std::string> VerifyJwsCompact(
    absl::string_view token, const PublicKey& key,
    size_t max_token_bytes = kDefaultMaxJwsBytes);

// A compact JWS with header {"alg","kid","typ"} from `key` and `typ`.
absl::StatusOr<std::string> SignJwsCompact(absl::string_view payload,
                                           const PrivateKey& key,
                                           absl::string_view typ);

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_JWS_H_
