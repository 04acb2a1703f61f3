#include "token/jws.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "token/base64url.h"
#include "token/json.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

// A Sigil header is three short strings. Depth 4 still lets an embedded
// "jwk" with "key_ops" parse, so that it is refused as FORBIDDEN_HEADER
// rather than as MALFORMED.
constexpr JsonLimits kHeaderLimits{4 * 1024, 4};

// RFC 8725 section 3.10 and RFC 7515: members that would let the token
// choose its own key or change how it is verified. Sigil understands no
// critical extension, so "crit" is refused outright (RFC 7515 4.1.11), and
// "b64" (RFC 7797) would change the signing input.
constexpr absl::string_view kForbiddenHeaders[] = {"crit", "jku", "x5u",
                                                   "jwk",  "x5c", "b64"};

absl::Status Malformed(absl::string_view message) {
  return VerdictError(Reason::kMalformed, message);
}

absl::StatusOr<std::optional<std::string>> OptionalString(
    const JsonValue& header, absl::string_view name) {
  const JsonValue* v = header.Find(name);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) {
    return Malformed(absl::StrCat("header ", name, " is not a string"));
  }
  return std::optional<std::string>(v->string_value());
}

absl::Status CheckAlgorithmAndSignature(const UnverifiedJws& jws,
                                        const PublicKey& key) {
  if (key.algorithm() != jws.header.alg) {
    return VerdictError(Reason::kAlgorithmMismatch,
                        "header alg is not the key's algorithm");
  }
  absl::StatusOr<std::string> signature =
      Base64UrlDecode(jws.signature_segment);
  if (!signature.ok()) {
    return VerdictError(Reason::kBadSignature, "signature is not base64url");
  }
  return key.VerifySignature(jws.signing_input, *signature);
}

}  // namespace

absl::StatusOr<UnverifiedJws> ParseJwsCompact(absl::string_view token,
                                              size_t max_token_bytes) {
  if (token.size() > max_token_bytes) {
    return VerdictError(Reason::kTokenTooLarge, "token is too large");
  }
  if (std::count(token.begin(), token.end(), '.') != 2) {
    return Malformed("token is not a compact jws");
  }
  const size_t first_dot = token.find('.');
  const size_t second_dot = token.find('.', first_dot + 1);
  const absl::string_view header_segment = token.substr(0, first_dot);
  const absl::string_view payload_segment =
      token.substr(first_dot + 1, second_dot - first_dot - 1);

  absl::StatusOr<std::string> header_text = Base64UrlDecode(header_segment);
  if (!header_text.ok()) return Malformed("header is not base64url");
  absl::StatusOr<JsonValue> header = ParseJson(*header_text, kHeaderLimits);
  if (!header.ok()) return Malformed("header is not strict json");
  if (!header->is_object()) return Malformed("header is not an object");
  for (absl::string_view name : kForbiddenHeaders) {
    if (header->Find(name) != nullptr) {
      return VerdictError(Reason::kForbiddenHeader,
                          absl::StrCat("header ", name, " is not allowed"));
    }
  }

  UnverifiedJws jws;
  const JsonValue* alg = header->Find("alg");
  if (alg == nullptr || !alg->is_string()) {
    return Malformed("header alg is missing or not a string");
  }
  absl::StatusOr<Algorithm> parsed_alg = ParseAlgorithm(alg->string_value());
  if (!parsed_alg.ok()) return parsed_alg.status();
  jws.header.alg = *parsed_alg;
  absl::StatusOr<std::optional<std::string>> kid =
      OptionalString(*header, "kid");
  if (!kid.ok()) return kid.status();
  jws.header.kid = *std::move(kid);
  absl::StatusOr<std::optional<std::string>> typ =
      OptionalString(*header, "typ");
  if (!typ.ok()) return typ.status();
  jws.header.typ = *std::move(typ);

  absl::StatusOr<std::string> payload = Base64UrlDecode(payload_segment);
  if (!payload.ok()) return Malformed("payload is not base64url");
  jws.payload = *std::move(payload);
  jws.signing_input = std::string(token.substr(0, second_dot));
  jws.signature_segment = std::string(token.substr(second_dot + 1));
  return jws;
}

absl::StatusOr<const PublicKey*> VerifyJwsSignature(const UnverifiedJws& jws,
                                                    const KeySet& keys) {
  if (!jws.header.kid.has_value()) {
    return VerdictError(Reason::kUnknownKey, "header kid is missing");
  }
  const PublicKey* key = keys.Find(*jws.header.kid);
  if (key == nullptr) {
    return VerdictError(Reason::kUnknownKey, "no key has the header kid");
  }
  absl::Status verified = CheckAlgorithmAndSignature(jws, *key);
  if (!verified.ok()) return verified;
  return key;
}

absl::Status VerifyJwsSignature(const UnverifiedJws& jws,
                                const PublicKey& key) {
  if (jws.header.kid.has_value() && !key.kid().empty() &&
      *jws.header.kid != key.kid()) {
    return VerdictError(Reason::kUnknownKey, "header kid is not the key's");
  }
  return CheckAlgorithmAndSignature(jws, key);
}

absl::StatusOr<std::string> VerifyJwsCompact(absl::string_view token,
                                             const PublicKey& key,
                                             size_t max_token_bytes) {
  absl::StatusOr<UnverifiedJws> jws = ParseJwsCompact(token, max_token_bytes);
  if (!jws.ok()) return jws.status();
  absl::Status verified = VerifyJwsSignature(*jws, key);
  if (!verified.ok()) return verified;
  return std::move(jws->payload);
}

absl::StatusOr<std::string> SignJwsCompact(absl::string_view payload,
                                           const PrivateKey& key,
                                           absl::string_view typ) {
  std::vector<JsonValue::Member> header;
  header.emplace_back(
      "alg", JsonValue::String(std::string(AlgorithmName(key.algorithm()))));
  header.emplace_back("kid", JsonValue::String(key.kid()));
  header.emplace_back("typ", JsonValue::String(std::string(typ)));
  std::string token = absl::StrCat(
      Base64UrlEncode(JsonValue::Object(std::move(header)).Serialize()), ".",
      Base64UrlEncode(payload));
  absl::StatusOr<std::string> signature = key.Sign(token);
  if (!signature.ok()) return signature.status();
  absl::StrAppend(&token, ".", Base64UrlEncode(*signature));
  return token;
}

}  // namespace sigil::token
