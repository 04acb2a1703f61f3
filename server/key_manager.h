#ifndef SIGIL_SERVER_KEY_MANAGER_H_
#define SIGIL_SERVER_KEY_MANAGER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/store.h"
#include "token/algorithm.h"
#include "token/clock.h"
#include "token/jwt.h"
#include "token/key_set.h"

namespace sigil::server {

// The authority's signing key and the public key set verifiers use.
// The private key is a PKCS#8 PEM file of mode 0600 under the data dir;
// the store records which keys exist. Immutable after Load, so thread-safe.
class KeyManager {
 public:
  // Loads the newest key recorded in `store`, or generates one of `alg` on
  // first start. A key recorded with another algorithm than `alg` is kept
  // (tokens signed with it must keep verifying) and used: changing the
  // algorithm is a key rotation, not a restart flag. Errors name the file:
  // FAILED_PRECONDITION for a missing, unreadable or malformed key file.
  static absl::StatusOr<std::unique_ptr<KeyManager>> Load(
      const std::string& data_dir, token::Algorithm alg, store::Store* store,
      const token::Clock* clock);

  const token::JwtSigner& signer() const { return signer_; }
  const token::KeySet& public_keys() const { return public_keys_; }

 private:
  KeyManager(token::JwtSigner signer, token::KeySet public_keys)
      : signer_(std::move(signer)), public_keys_(std::move(public_keys)) {}

  token::JwtSigner signer_;
  token::KeySet public_keys_;
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_KEY_MANAGER_H_
