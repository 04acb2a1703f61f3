#ifndef SIGIL_TOKEN_JWT_H_
#define SIGIL_TOKEN_JWT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "token/clock.h"
#include "token/key.h"
#include "token/key_set.h"

namespace sigil::token {

// Claims of a Sigil access token (RFC 9068 shape). `issued_at_us` is the
// authority's strictly increasing issue instant in microseconds (private
// claim "sigil_iat_us"); revocations compare against it so that a token
// issued after a logout, even within the same second, is not covered.
struct JwtClaims {
  std::string issuer;
  std::string subject;
  std::vector<std::string> audience;  // the systems; one or more
  absl::Time issued_at;               // "iat", whole seconds on the wire
  absl::Time expires_at;              // "exp", whole seconds on the wire
  std::string token_id;               // "jti"
  std::string session_id;             // "sid"
  std::vector<std::string> scopes;    // "scope", space-separated
  int64_t issued_at_us = 0;           // "sigil_iat_us"
};

// Whether `claims` name `system` in "aud": the one audience check.
bool IssuedFor(const JwtClaims& claims, absl::string_view system);
// Whether `claims` grant `scope`.
bool HasScope(const JwtClaims& claims, absl::string_view scope);
// OK when `claims` grant every scope of `required`; otherwise the
// kInsufficientScope verdict naming the first one missing.
absl::Status CheckScopes(const JwtClaims& claims,
                         absl::Span<const std::string> required);

// A token whose signature, type and claims have been checked. Only
// JwtVerifier creates one.
class VerifiedJwt {
 public:
  const JwtClaims& claims() const { return claims_; }
  const std::string& kid() const { return kid_; }
  bool HasScope(absl::string_view scope) const;

 private:
  friend class JwtVerifier;
  VerifiedJwt(JwtClaims claims, std::string kid)
      : claims_(std::move(claims)), kid_(std::move(kid)) {}

  JwtClaims claims_;
  std::string kid_;
};

// Signs claims as a compact JWS with header {"alg","kid","typ":"at+jwt"}.
// Thread-safe.
class JwtSigner {
 public:
  explicit JwtSigner(PrivateKey key) : key_(std::move(key)) {}
  // INVALID_ARGUMENT when a required claim is empty.
  absl::StatusOr<std::string> Sign(const JwtClaims& claims) const;
  const PrivateKey& key() const { return key_; }

 private:
  PrivateKey key_;
};

struct JwtVerifierOptions {
  std::string issuer;            // required "iss"
  const Clock* clock = nullptr;  // not owned; RealClock() when null
  // The issuer's longest access-token lifetime (sigild's --max_token_ttl):
  // a token whose exp - iat exceeds it is refused as malformed.
  absl::Duration max_lifetime = absl::Hours(24);
  // Tolerance for "iat"/"nbf" in the future (verifier clock behind the
  // authority's). Never extends "exp": a token is expired at exp.
  absl::Duration leeway = absl::Seconds(5);
  size_t max_token_bytes = 8 * 1024;
};

// How far a token's "sigil_iat_us" may lie after its "iat": the authority
// stamps an instant that never goes back, which can run ahead of its clock
// by up to the horizon it reserves (60 s) after a restart. Further, or
// more than a second before "iat" (an older authority could stamp "iat"
// from a clock read just after the instant's), and the token is malformed.
inline constexpr absl::Duration kMaxInstantLead = absl::Minutes(2);

// Verifies compact JWS access tokens: size cap, strict base64url and JSON,
// typ at+jwt, an allowed alg that matches the key found by kid, no crit /
// jku / x5u / jwk / x5c, the signature, then iss, exp, nbf, iat, aud. Every
// failure is a VerdictError with its Reason; a bad signature is reported
// before any claim problem. Thread-safe.
class JwtVerifier {
 public:
  explicit JwtVerifier(JwtVerifierOptions options);

  // `audience` is the verifying system; it must be one of the token's "aud"
  // values, compared exactly.
  absl::StatusOr<VerifiedJwt> Verify(absl::string_view token,
                                     const KeySet& keys,
                                     absl::string_view audience) const;

  // As Verify, without the audience check: for the authority acting on a
  // user's own token (logout, revoke), which is valid at any of its systems.
  absl::StatusOr<VerifiedJwt> VerifyIgnoringAudience(absl::string_view token,
                                                     const KeySet& keys) const;

 private:
  JwtVerifierOptions options_;
};

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_JWT_H_
