#ifndef SIGIL_TOKEN_KEY_SET_H_
#define SIGIL_TOKEN_KEY_SET_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_KEY_SET_H_
