#ifndef SIGIL_TOKEN_KEY_SET_H_
#define SIGIL_TOKEN_KEY_SET_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "token/json.h"
#include "token/key.h"

namespace sigil::token {

// Public keys by kid. A value type: build it, then share it read-only
// (const methods are safe from many threads).
class KeySet {
 public:
  // INVALID_ARGUMENT for an empty or duplicate kid.
  absl::Status Add(PublicKey key);
  // nullptr when no key has this kid. The kid is only a lookup key: it is
  // compared as bytes, never used as a path or a query.
  const PublicKey* Find(absl::string_view kid) const;
  const std::vector<PublicKey>& keys() const { return keys_; }

  // RFC 7517 JWK Set JSON ({"keys":[...]}) of the public keys.
  std::string ToJwksJson() const;
  // Parses a JWK Set strictly (see json.h); every key needs kty, kid and
  // alg. Keys of unsupported types are an error, not silently skipped.
  static absl::StatusOr<KeySet> FromJwksJson(absl::string_view json);

 private:
  std::vector<PublicKey> keys_;
};

// One JWK (RFC 7517 section 4) as parsed JSON: the members Jwk holds must be
// strings when present, kty is required, and "key_ops", which Jwk does not
// carry, must include "verify" when present. Private members ("d", "p",
// "k", ...) and unknown members are ignored and never read. The key material,
// "use" and "alg" are checked by PublicKey::FromJwk.
absl::StatusOr<Jwk> JwkFromJson(const JsonValue& value);
// The same from JSON text (strict parsing, see json.h).
absl::StatusOr<Jwk> ParseJwk(absl::string_view json);
// The non-empty members of `jwk` as a JSON object.
JsonValue JwkToJsonValue(const Jwk& jwk);
std::string JwkToJson(const Jwk& jwk);

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_KEY_SET_H_
