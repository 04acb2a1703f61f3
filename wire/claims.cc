#include "wire/claims.h"

#include "wire/timestamp.h"

namespace sigil::wire {
sigil::v1::Claims ToClaims(const token::JwtClaims& claims) {
  sigil::v1::Claims out;
  out.set_issuer(claims.issuer);
  out.set_subject(claims.subject);
  for (const std::string& aud : claims.audience) out.add_audience(aud);
  *out.mutable_issued_at() = ToTimestamp(claims.issued_at);
  *out.mutable_expires_at() = ToTimestamp(claims.expires_at);
  out.set_token_id(claims.token_id);
  out.set_session_id(claims.session_id);
  for (const std::string& scope : claims.scopes) out.add_scopes(scope);
  out.set_issued_at_us(claims.issued_at_us);
  return out;
}

std::optional<token::JwtClaims> FromClaims(const sigil::v1::Claims& in) {
  std::optional<absl::Time> issued_at = FromTimestamp(in.issued_at());
  std::optional<absl::Time> expires_at = FromTimestamp(in.expires_at());
  if (!issued_at.has_value() || !expires_at.has_value()) return std::nullopt;
  token::JwtClaims claims;
  claims.issuer = in.issuer();
  claims.subject = in.subject();
  claims.audience.assign(in.audience().begin(), in.audience().end());
  claims.issued_at = *issued_at;
  claims.expires_at = *expires_at;
  claims.token_id = in.token_id();
  claims.session_id = in.session_id();
  claims.scopes.assign(in.scopes().begin(), in.scopes().end());
  claims.issued_at_us = in.issued_at_us();
  return claims;
}

}  // namespace sigil::wire
