#ifndef SIGIL_TOKEN_KEY_H_
#define SIGIL_TOKEN_KEY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "token/algorithm.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace sigil::token {

// The public members of a JWK (RFC 7517/7518/8037), base64url fields as
// they appear on the wire. Unused members are empty.
struct Jwk {
  std::string kty;  // "EC", "OKP" or "RSA"
  std::string kid;
  std::string alg;
  std::string use;  // "sig"
  std::string crv;  // "P-256" or "Ed25519"
  std::string x;
  std::string y;
  std::string n;
  std::string e;
};

// A verification key: exactly one algorithm and one kid. Immutable, cheap to
// copy (shares the OpenSSL key), safe to use from many threads.
class PublicKey {
 public:
  // Rejects a kty/crv/alg that do not agree, a point not on the curve and
  // an RSA modulus outside 2048-8192 bits. Private members ("d", "p", ...)
  // are ignored by design: only the public part is ever imported.
  static absl::StatusOr<PublicKey> FromJwk(const Jwk& jwk);
  // SubjectPublicKeyInfo PEM; the key type must fit `alg`.
  static absl::StatusOr<PublicKey> FromPem(absl::string_view pem,
                                           std::string kid, Algorithm alg);

  const std::string& kid() const { return kid_; }
  Algorithm algorithm() const { return alg_; }
  Jwk ToJwk() const;

  // Checks a JWS signature over `signing_input`: ES256 wants the 64-byte
  // r||s form (DER is rejected), EdDSA 64 bytes, RS256 PKCS#1 v1.5 of the
  // modulus size. Failure is a BAD_SIGNATURE VerdictError.
  absl::Status VerifySignature(absl::string_view signing_input,
                               absl::string_view signature) const;

 private:
  friend class PrivateKey;  // public_key() shares its OpenSSL key
  PublicKey(std::shared_ptr<EVP_PKEY> pkey, std::string kid, Algorithm alg);

  std::shared_ptr<EVP_PKEY> pkey_;
  std::string kid_;
  Algorithm alg_;
  // A verification context set up for pkey_, copied by each
  // VerifySignature and never changed after construction; null for Ed25519.
  std::shared_ptr<const EVP_MD_CTX> verify_template_;
};

// A signing key: exactly one algorithm and one kid. Immutable, safe to use
// from many threads. Never serialized except by ToPem for storage at rest.
class PrivateKey {
 public:
  // A fresh key from OpenSSL's CSPRNG: P-256, Ed25519 or RSA-2048.
  static absl::StatusOr<PrivateKey> Generate(Algorithm alg, std::string kid);
  // PKCS#8 PEM as written by ToPem; the key type must fit `alg`.
  static absl::StatusOr<PrivateKey> FromPem(absl::string_view pem,
                                            std::string kid, Algorithm alg);

  const std::string& kid() const { return kid_; }
  Algorithm algorithm() const { return alg_; }
  PublicKey public_key() const;
  // Unencrypted PKCS#8 PEM, which FromPem reads back. INTERNAL when
  // OpenSSL cannot encode the key; never an empty or partial PEM.
  absl::StatusOr<std::string> ToPem() const;

  // A JWS signature over `signing_input` (ES256 as 64-byte r||s).
  absl::StatusOr<std::string> Sign(absl::string_view signing_input) const;

 private:
  PrivateKey(std::shared_ptr<EVP_PKEY> pkey, std::string kid, Algorithm alg);

  std::shared_ptr<EVP_PKEY> pkey_;
  std::string kid_;
  Algorithm alg_;
  // A signing context set up for pkey_, copied by each Sign and never
  // changed after construction; null for Ed25519.
  std::shared_ptr<const EVP_MD_CTX> sign_template_;
};

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_KEY_H_
