#ifndef SIGIL_TOKEN_KEY_INTERNAL_H_
#define SIGIL_TOKEN_KEY_INTERNAL_H_

// Internal to the token library, and not installed: what key.cc shares with
// the files it calls on (rsa_checks.cc, jwk_import.cc, ecdsa_signature.cc).

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "token/reason.h"

namespace sigil::token::internal {

// unique_ptr deleter calling the OpenSSL free function kFree.
template <auto kFree>
struct OpenSslFree {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using BigNum = std::unique_ptr<BIGNUM, OpenSslFree<BN_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, OpenSslFree<EVP_PKEY_CTX_free>>;

// The size of one P-256 coordinate, and of r or s in an ES256 signature.
inline constexpr size_t kP256CoordinateBytes = 32;
// An Ed25519 public key.
inline constexpr size_t kEd25519KeyBytes = 32;

// OpenSSL leaves the details of a failure on a thread-local queue. These
// statuses carry Sigil's own short message instead and empty the queue, so
// that it cannot leak into a later, unrelated call on the same thread.
inline absl::Status Invalid(absl::string_view message) {
  ERR_clear_error();
  return absl::InvalidArgumentError(message);
}

inline absl::Status Internal(absl::string_view message) {
  ERR_clear_error();
  return absl::InternalError(message);
}

// A BAD_SIGNATURE verdict (token/reason.h).
inline absl::Status BadSignature(absl::string_view message) {
  ERR_clear_error();
  return VerdictError(Reason::kBadSignature, message);
}

// The bytes of `s` as OpenSSL takes them.
inline const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace sigil::token::internal

#endif  // SIGIL_TOKEN_KEY_INTERNAL_H_
