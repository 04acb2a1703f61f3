#ifndef SIGIL_SERVER_KEY_VAULT_H_
#define SIGIL_SERVER_KEY_VAULT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigil::server {

// Seals signing keys under a key-encryption key (KEK) so that their records
// can live in a store shared by replicas (etcd) without the private keys
// ever being there in plaintext. AES-256-GCM (OpenSSL), a fresh random
// 96-bit nonce per Seal, and the kid as associated data: a sealed key moved
// to another record fails to open. Sealed form: one version byte, the
// nonce, the ciphertext, the 16-byte tag.
//
// Errors never contain key material (neither the KEK nor a plaintext key).
// Thread-safe; immutable after creation. The KEK is wiped on destruction.
class KeyVault {
 public:
  static constexpr size_t kKekSize = 32;

  // Reads the KEK from `path`: a file of exactly 32 bytes (as `openssl
  // rand -out kek 32` makes). INVALID_ARGUMENT for any other size,
  // FAILED_PRECONDITION when it cannot be read. A file others may read is
  // accepted with a warning in the log.
  static absl::StatusOr<std::unique_ptr<KeyVault>> FromFile(
      const std::string& path);
  // The KEK itself: exactly 32 bytes, else INVALID_ARGUMENT.
  static absl::StatusOr<std::unique_ptr<KeyVault>> FromKek(
      absl::string_view kek);

  ~KeyVault();
  KeyVault(const KeyVault&) = delete;
  KeyVault& operator=(const KeyVault&) = delete;

  // `plaintext` sealed for the record of `kid`. INTERNAL when OpenSSL
  // fails.
  absl::StatusOr<std::string> Seal(absl::string_view kid,
                                   absl::string_view plaintext) const;
  // The plaintext `sealed` holds, if it was sealed under this KEK for
  // `kid` and is unaltered; otherwise FAILED_PRECONDITION naming the kid
  // and what is wrong (format, or "does not authenticate": wrong KEK,
  // altered, or sealed for another kid).
  absl::StatusOr<std::string> Open(absl::string_view kid,
                                   absl::string_view sealed) const;

 private:
  explicit KeyVault(absl::string_view kek);

  unsigned char kek_[kKekSize];
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_KEY_VAULT_H_
