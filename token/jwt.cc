#include "token/jwt.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "token/json.h"
#include "token/jws.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

constexpr absl::string_view kAccessTokenType = "at+jwt";
// RFC 7515 4.1.9: a "typ" may carry the full media type, and media types
// compare case-insensitively (RFC 2045), so RFC 9068's "at+jwt" has these
// two spellings up to case.
constexpr absl::string_view kAccessTokenMediaType = "application/at+jwt";

// NumericDate is an integer here (RFC 7519 allows fractions; Sigil issues
// none) and stays before year 10000: RFC 3339 and protobuf's Timestamp,
// which carry claims over the wire, end there (and every JSON
// implementation reads such an integer exactly, being far below 2^53).
constexpr int64_t kMaxNumericDate = 253402300800;  // 10000-01-01T00:00:00Z
constexpr int64_t kMicrosPerSecond = 1000 * 1000;

absl::Status ClaimError(absl::string_view claim, absl::string_view problem) {
  return VerdictError(Reason::kMalformed,
                      absl::StrCat("claim ", claim, " ", problem));
}

absl::StatusOr<std::string> RequiredString(const JsonValue& claims,
                                           absl::string_view name) {
  const JsonValue* v = claims.Find(name);
  if (v == nullptr) return ClaimError(name, "is missing");
  if (!v->is_string() || v->string_value().empty()) {
    return ClaimError(name, "is not a non-empty string");
  }
  return v->string_value();
}

// A plain non-negative integer literal. The sign is refused on the literal,
// not on the value, so "-0" (which AsInt64 reads as 0) has no second
// spelling of 0 to offer.
std::optional<int64_t> NonNegativeInteger(const JsonValue& v) {
  if (v.type() != JsonValue::Type::kNumber ||
      absl::StartsWith(v.string_value(), "-")) {
    return std::nullopt;
  }
  return v.AsInt64();
}

absl::StatusOr<std::optional<int64_t>> OptionalNumericDate(
    const JsonValue& claims, absl::string_view name) {
  const JsonValue* v = claims.Find(name);
  if (v == nullptr) return std::optional<int64_t>();
  const std::optional<int64_t> seconds = NonNegativeInteger(*v);
  if (!seconds.has_value() || *seconds >= kMaxNumericDate) {
    return ClaimError(name, "is not an integer numericdate");
  }
  return seconds;
}

absl::StatusOr<int64_t> RequiredNumericDate(const JsonValue& claims,
                                            absl::string_view name) {
  absl::StatusOr<std::optional<int64_t>> date =
      OptionalNumericDate(claims, name);
  if (!date.ok()) return date.status();
  if (!date->has_value()) return ClaimError(name, "is missing");
  return **date;
}

absl::StatusOr<std::vector<std::string>> Audience(const JsonValue& claims) {
  const JsonValue* aud = claims.Find("aud");
  if (aud == nullptr) return ClaimError("aud", "is missing");
  if (aud->is_string() && !aud->string_value().empty()) {
    return std::vector<std::string>{aud->string_value()};
  }
  if (!aud->is_array() || aud->items().empty()) {
    return ClaimError("aud", "is not a string or a non-empty array");
  }
  std::vector<std::string> audience;
  for (const JsonValue& item : aud->items()) {
    if (!item.is_string() || item.string_value().empty()) {
      return ClaimError("aud", "holds a value that is not a non-empty string");
    }
    audience.push_back(item.string_value());
  }
  return audience;
}

// RFC 6749 3.3: scope tokens separated by single spaces.
absl::StatusOr<std::vector<std::string>> Scopes(const JsonValue& claims) {
  const JsonValue* scope = claims.Find("scope");
  if (scope == nullptr) return std::vector<std::string>();
  if (!scope->is_string()) return ClaimError("scope", "is not a string");
  std::vector<std::string> scopes = absl::StrSplit(scope->string_value(), ' ');
  for (const std::string& s : scopes) {
    if (s.empty()) return ClaimError("scope", "has an empty scope token");
  }
  return scopes;
}

struct ParsedClaims {
  JwtClaims claims;
  std::optional<int64_t> not_before;
  std::optional<int64_t> issued_at_us;
};

// Types and shapes only: every problem here is MALFORMED, checked before
// any claim's value is judged.
absl::StatusOr<ParsedClaims> ParseClaims(absl::string_view payload,
                                         size_t max_bytes) {
  absl::StatusOr<JsonValue> doc = ParseJson(payload, JsonLimits{max_bytes, 4});
  if (!doc.ok())
    return VerdictError(Reason::kMalformed, "claims are not strict json");
  if (!doc->is_object()) {
    return VerdictError(Reason::kMalformed, "claims are not an object");
  }
  ParsedClaims parsed;
  JwtClaims& c = parsed.claims;
  absl::StatusOr<std::string> iss = RequiredString(*doc, "iss");
  if (!iss.ok()) return iss.status();
  c.issuer = *std::move(iss);
  absl::StatusOr<std::string> sub = RequiredString(*doc, "sub");
  if (!sub.ok()) return sub.status();
  c.subject = *std::move(sub);
  absl::StatusOr<std::vector<std::string>> aud = Audience(*doc);
  if (!aud.ok()) return aud.status();
  c.audience = *std::move(aud);
  absl::StatusOr<int64_t> iat = RequiredNumericDate(*doc, "iat");
  if (!iat.ok()) return iat.status();
  c.issued_at = absl::FromUnixSeconds(*iat);
  absl::StatusOr<int64_t> exp = RequiredNumericDate(*doc, "exp");
  if (!exp.ok()) return exp.status();
  c.expires_at = absl::FromUnixSeconds(*exp);
  absl::StatusOr<std::optional<int64_t>> nbf = OptionalNumericDate(*doc, "nbf");
  if (!nbf.ok()) return nbf.status();
  parsed.not_before = *nbf;
  absl::StatusOr<std::string> jti = RequiredString(*doc, "jti");
  if (!jti.ok()) return jti.status();
  c.token_id = *std::move(jti);
  absl::StatusOr<std::string> sid = RequiredString(*doc, "sid");
  if (!sid.ok()) return sid.status();
  c.session_id = *std::move(sid);
  absl::StatusOr<std::vector<std::string>> scopes = Scopes(*doc);
  if (!scopes.ok()) return scopes.status();
  c.scopes = *std::move(scopes);
  if (const JsonValue* us = doc->Find("sigil_iat_us"); us != nullptr) {
    const std::optional<int64_t> value = NonNegativeInteger(*us);
    if (!value.has_value()) {
      return ClaimError("sigil_iat_us", "is not a non-negative integer");
    }
    parsed.issued_at_us = value;
  }
  return parsed;
}

bool IsAccessTokenType(const std::optional<std::string>& typ) {
  return typ.has_value() &&
         (absl::EqualsIgnoreCase(*typ, kAccessTokenType) ||
          absl::EqualsIgnoreCase(*typ, kAccessTokenMediaType));
}

absl::Status CheckNonEmpty(absl::string_view value, absl::string_view claim) {
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("claim ", claim, " is empty"));
  }
  return absl::OkStatus();
}

absl::Status CheckSignable(const JwtClaims& claims) {
  for (const auto& [value, name] :
       {std::pair<absl::string_view, absl::string_view>{claims.issuer, "iss"},
        {claims.subject, "sub"},
        {claims.token_id, "jti"},
        {claims.session_id, "sid"}}) {
    absl::Status status = CheckNonEmpty(value, name);
    if (!status.ok()) return status;
  }
  if (claims.audience.empty()) return CheckNonEmpty("", "aud");
  for (const std::string& aud : claims.audience) {
    absl::Status status = CheckNonEmpty(aud, "aud");
    if (!status.ok()) return status;
  }
  for (const std::string& scope : claims.scopes) {
    if (scope.empty() || absl::StrContains(scope, " ")) {
      return absl::InvalidArgumentError("scope is empty or holds a space");
    }
  }
  const int64_t iat = absl::ToUnixSeconds(claims.issued_at);
  const int64_t exp = absl::ToUnixSeconds(claims.expires_at);
  if (iat < 0 || exp >= kMaxNumericDate || exp <= iat) {
    return absl::InvalidArgumentError("token lifetime is out of range");
  }
  if (claims.issued_at_us < 0) {
    return absl::InvalidArgumentError("claim sigil_iat_us is negative");
  }
  return absl::OkStatus();
}

struct CheckedToken {
  JwtClaims claims;
  std::string kid;
};

// The whole check; `audience` null skips only the audience match.
absl::StatusOr<CheckedToken> CheckToken(absl::string_view token,
                                        const KeySet& keys,
                                        const absl::string_view* audience,
                                        const JwtVerifierOptions& options) {
  absl::StatusOr<UnverifiedJws> jws =
      ParseJwsCompact(token, options.max_token_bytes);
  if (!jws.ok()) return jws.status();
  if (!IsAccessTokenType(jws->header.typ)) {
    return VerdictError(Reason::kWrongTokenType, "header typ is not at+jwt");
  }
  absl::StatusOr<const PublicKey*> key = VerifyJwsSignature(*jws, keys);
  if (!key.ok()) return key.status();

  absl::StatusOr<ParsedClaims> parsed =
      ParseClaims(jws->payload, options.max_token_bytes);
  if (!parsed.ok()) return parsed.status();
  JwtClaims& claims = parsed->claims;
  if (claims.issuer != options.issuer) {
    return VerdictError(Reason::kWrongIssuer, "token is from another issuer");
  }
  const absl::Time now = options.clock->Now();
  if (claims.expires_at <= now) {
    return VerdictError(Reason::kExpired, "token has expired");
  }
  const absl::Time horizon = now + options.leeway;
  if (parsed->not_before.has_value() &&
      absl::FromUnixSeconds(*parsed->not_before) > horizon) {
    return VerdictError(Reason::kNotYetValid, "token is not valid yet");
  }
  if (claims.issued_at > horizon) {
    return VerdictError(Reason::kNotYetValid, "token is issued in the future");
  }
  // A leaked signing key must not mint a token that dodges logout: one
  // that lives for years, or one whose instant (what a logout's not_before
  // is compared with) claims a time long after its "iat", so that logouts
  // to come would not cover it. Whole seconds on the wire round the
  // lifetime up by at most one.
  if (claims.expires_at - claims.issued_at >
      options.max_lifetime + absl::Seconds(1)) {
    return VerdictError(Reason::kMalformed,
                        "token lives longer than its issuer allows");
  }
  // Only now is "iat" known to be near the present, so the product fits.
  const int64_t iat_us =
      absl::ToUnixSeconds(claims.issued_at) * kMicrosPerSecond;
  if (parsed->issued_at_us.has_value() &&
      (*parsed->issued_at_us < iat_us - kMicrosPerSecond ||
       *parsed->issued_at_us - iat_us >
           absl::ToInt64Microseconds(kMaxInstantLead))) {
    return ClaimError("sigil_iat_us", "disagrees with iat");
  }
  claims.issued_at_us = parsed->issued_at_us.value_or(iat_us);
  // The audience is matched last, so that a caller that skips it gets the
  // same verdict for every other flaw.
  if (audience != nullptr && !IssuedFor(claims, *audience)) {
    return VerdictError(Reason::kWrongAudience,
                        "token is not issued for this audience");
  }
  return CheckedToken{std::move(claims), (*key)->kid()};
}

}  // namespace

bool IssuedFor(const JwtClaims& claims, absl::string_view system) {
  return std::find(claims.audience.begin(), claims.audience.end(), system) !=
         claims.audience.end();
}

bool HasScope(const JwtClaims& claims, absl::string_view scope) {
  return std::find(claims.scopes.begin(), claims.scopes.end(), scope) !=
         claims.scopes.end();
}

absl::Status CheckScopes(const JwtClaims& claims,
                         absl::Span<const std::string> required) {
  for (const std::string& scope : required) {
    if (!HasScope(claims, scope)) {
      return VerdictError(Reason::kInsufficientScope,
                          absl::StrCat("token lacks scope ", scope));
    }
  }
  return absl::OkStatus();
}

bool VerifiedJwt::HasScope(absl::string_view scope) const {
  return token::HasScope(claims_, scope);
}

absl::StatusOr<std::string> JwtSigner::Sign(const JwtClaims& claims) const {
  absl::Status signable = CheckSignable(claims);
  if (!signable.ok()) return signable;
  std::vector<JsonValue::Member> members;
  members.emplace_back("iss", JsonValue::String(claims.issuer));
  members.emplace_back("sub", JsonValue::String(claims.subject));
  if (claims.audience.size() == 1) {
    members.emplace_back("aud", JsonValue::String(claims.audience[0]));
  } else {
    std::vector<JsonValue> audience;
    for (const std::string& aud : claims.audience) {
      audience.push_back(JsonValue::String(aud));
    }
    members.emplace_back("aud", JsonValue::Array(std::move(audience)));
  }
  members.emplace_back(
      "iat", JsonValue::Number(absl::ToUnixSeconds(claims.issued_at)));
  members.emplace_back(
      "exp", JsonValue::Number(absl::ToUnixSeconds(claims.expires_at)));
  members.emplace_back("jti", JsonValue::String(claims.token_id));
  members.emplace_back("sid", JsonValue::String(claims.session_id));
  if (!claims.scopes.empty()) {
    members.emplace_back("scope",
                         JsonValue::String(absl::StrJoin(claims.scopes, " ")));
  }
  // Zero means "not set": the verifier then derives it from "iat".
  if (claims.issued_at_us > 0) {
    members.emplace_back("sigil_iat_us",
                         JsonValue::Number(claims.issued_at_us));
  }
  return SignJwsCompact(JsonValue::Object(std::move(members)).Serialize(), key_,
                        kAccessTokenType);
}

JwtVerifier::JwtVerifier(JwtVerifierOptions options)
    : options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = &RealClock();
}

absl::StatusOr<VerifiedJwt> JwtVerifier::Verify(
    absl::string_view token, const KeySet& keys,
    absl::string_view audience) const {
  absl::StatusOr<CheckedToken> checked =
      CheckToken(token, keys, &audience, options_);
  if (!checked.ok()) return checked.status();
  return VerifiedJwt(std::move(checked->claims), std::move(checked->kid));
}

absl::StatusOr<VerifiedJwt> JwtVerifier::VerifyIgnoringAudience(
    absl::string_view token, const KeySet& keys) const {
  absl::StatusOr<CheckedToken> checked =
      CheckToken(token, keys, nullptr, options_);
  if (!checked.ok()) return checked.status();
  return VerifiedJwt(std::move(checked->claims), std::move(checked->kid));
}

}  // namespace sigil::token
