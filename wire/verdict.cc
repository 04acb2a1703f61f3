#include "wire/verdict.h"

#include <string>

namespace sigil::wire {

sigil::v1::Verdict ToVerdict(token::Reason reason, absl::string_view message) {
  sigil::v1::Verdict verdict;
  verdict.set_code(absl::StatusCodeToString(token::CodeOf(reason)));
  sigil::v1::Reason proto = sigil::v1::REASON_UNSPECIFIED;
  // The enums share their names (token/reason.h).
  sigil::v1::Reason_Parse(std::string(token::ReasonName(reason)), &proto);
  verdict.set_reason(proto);
  verdict.set_message(std::string(message));
  return verdict;
}

std::optional<token::Reason> FromReason(sigil::v1::Reason reason) {
  const std::string& name = sigil::v1::Reason_Name(reason);
  for (int i = 0; i <= static_cast<int>(token::Reason::kInsufficientScope);
       ++i) {
    const auto candidate = static_cast<token::Reason>(i);
    if (token::ReasonName(candidate) == name) return candidate;
  }
  return std::nullopt;
}

sigil::v1::GetJwksResponse ToJwksResponse(const token::KeySet& keys) {
  sigil::v1::GetJwksResponse response;
  response.set_jwks_json(keys.ToJwksJson());
  for (const token::PublicKey& key : keys.keys()) {
    const token::Jwk jwk = key.ToJwk();
    sigil::v1::Jwk* out = response.add_keys();
    out->set_kty(jwk.kty);
    out->set_kid(jwk.kid);
    out->set_alg(jwk.alg);
    out->set_use(jwk.use);
    out->set_crv(jwk.crv);
    out->set_x(jwk.x);
    out->set_y(jwk.y);
    out->set_n(jwk.n);
    out->set_e(jwk.e);
  }
  return response;
}

}  // namespace sigil::wire
