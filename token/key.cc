#include "token/key.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "token/base64url.h"
#include "token/ecdsa_signature.h"
#include "token/jwk_import.h"
#include "token/key_internal.h"
#include "token/rsa_checks.h"

namespace sigil::token {
namespace {

using internal::BadSignature;
using internal::BigNum;
using internal::Bytes;
using internal::CheckRsaModulusBits;
using internal::CheckRsaPublicKey;
using internal::DerToEs256Signature;
using internal::Es256SignatureToDer;
using internal::Internal;
using internal::Invalid;
using internal::kEd25519KeyBytes;
using internal::kP256CoordinateBytes;
using internal::OpenSslFree;
using internal::Pkey;
using internal::PkeyCtx;
using internal::PublicKeyFromJwk;

using Bio = std::unique_ptr<BIO, OpenSslFree<BIO_free>>;
using DecoderCtx =
    std::unique_ptr<OSSL_DECODER_CTX, OpenSslFree<OSSL_DECODER_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, OpenSslFree<EVP_MD_CTX_free>>;

constexpr size_t kEd25519SignatureBytes = 64;
constexpr int kRsaGenerateBits = 2048;

absl::Status CheckKeyFitsAlgorithm(const EVP_PKEY* pkey, Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256: {
      char group[64];
      size_t group_len = 0;
      if (!EVP_PKEY_is_a(pkey, "EC") ||
          EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                         group, sizeof(group),
                                         &group_len) != 1 ||
          absl::string_view(group, group_len) != SN_X9_62_prime256v1) {
        return Invalid("es256 needs a p-256 key");
      }
      return absl::OkStatus();
    }
    case Algorithm::kEdDSA:
      if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        return Invalid("eddsa needs an ed25519 key");
      }
      return absl::OkStatus();
    case Algorithm::kRS256:
      if (!EVP_PKEY_is_a(pkey, "RSA")) return Invalid("rs256 needs an rsa key");
      return CheckRsaModulusBits(EVP_PKEY_get_bits(pkey));
  }
  return Invalid("unsupported algorithm");
}

// EVP_PKEY_public_check is deterministic for EC points and Ed25519 keys;
// RSA keys get CheckRsaPublicKey instead (rsa_checks.h says why).
absl::Status CheckPublicKey(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "RSA")) return CheckRsaPublicKey(pkey);
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (ctx == nullptr || EVP_PKEY_public_check(ctx.get()) != 1) {
    return Invalid("public key fails validation");
  }
  return absl::OkStatus();
}

const char* KeyTypeName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256:
      return "EC";
    case Algorithm::kEdDSA:
      return "ED25519";
    case Algorithm::kRS256:
      return "RSA";
  }
  return "";
}

// Decodes exactly one PEM structure of the given kind ("PrivateKeyInfo" or
// "SubjectPublicKeyInfo"), never prompting for a passphrase.
absl::StatusOr<Pkey> DecodePem(absl::string_view pem, const char* structure,
                               int selection, Algorithm alg) {
  EVP_PKEY* raw = nullptr;
  DecoderCtx decoder(OSSL_DECODER_CTX_new_for_pkey(
      &raw, "PEM", structure, KeyTypeName(alg), selection, nullptr, nullptr));
  if (decoder == nullptr) return Internal("cannot set up the pem decoder");
  const unsigned char* data = Bytes(pem);
  size_t len = pem.size();
  if (OSSL_DECODER_from_data(decoder.get(), &data, &len) != 1 ||
      raw == nullptr) {
    return Invalid("pem is not a key of the expected kind");
  }
  Pkey pkey(raw);
  absl::Status fits = CheckKeyFitsAlgorithm(pkey.get(), alg);
  if (!fits.ok()) return fits;
  return pkey;
}

// A big-endian integer parameter of `pkey`, left-padded to `size` bytes
// when `size` is positive; empty when OpenSSL cannot give it.
std::string BigNumParam(const EVP_PKEY* pkey, const char* name, int size) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) return "";
  BigNum bn(raw);
  std::string out(size > 0 ? size : BN_num_bytes(bn.get()), '\0');
  unsigned char* buf = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(bn.get(), buf, static_cast<int>(out.size())) < 0) return "";
  return out;
}

// Ed25519 signs the message itself (PureEdDSA): no digest.
const EVP_MD* DigestFor(Algorithm alg) {
  return alg == Algorithm::kEdDSA ? nullptr : EVP_sha256();
}

// OpenSSL 3 looks the algorithm up in its provider tables on every
// EVP_DigestSignInit / EVP_DigestVerifyInit; copying a context set up once
// is a good part cheaper per signature. Null for Ed25519, which signs and
// verifies in one shot and is set up each time, or when setting up fails
// (each call then sets up its own and reports the failure).
std::shared_ptr<const EVP_MD_CTX> ReadyContext(EVP_PKEY* pkey, Algorithm alg,
                                               bool sign) {
  if (alg == Algorithm::kEdDSA) return nullptr;
  MdCtx ready(EVP_MD_CTX_new());
  const int started = ready == nullptr ? 0
                      : sign
                          ? EVP_DigestSignInit(ready.get(), nullptr,
                                               DigestFor(alg), nullptr, pkey)
                          : EVP_DigestVerifyInit(ready.get(), nullptr,
                                                 DigestFor(alg), nullptr, pkey);
  if (started != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return std::shared_ptr<const EVP_MD_CTX>(ready.release(), EVP_MD_CTX_free);
}

// A context for one signature or verification: a copy of `ready` when
// there is one.
bool Start(EVP_MD_CTX* ctx, const EVP_MD_CTX* ready, EVP_PKEY* pkey,
           Algorithm alg, bool sign) {
  if (ctx == nullptr) return false;
  if (ready != nullptr) return EVP_MD_CTX_copy_ex(ctx, ready) == 1;
  return (sign ? EVP_DigestSignInit(ctx, nullptr, DigestFor(alg), nullptr, pkey)
               : EVP_DigestVerifyInit(ctx, nullptr, DigestFor(alg), nullptr,
                                      pkey)) == 1;
}

}  // namespace

PublicKey::PublicKey(std::shared_ptr<EVP_PKEY> pkey, std::string kid,
                     Algorithm alg)
    : pkey_(std::move(pkey)),
      kid_(std::move(kid)),
      alg_(alg),
      verify_template_(ReadyContext(pkey_.get(), alg_, /*sign=*/false)) {}

absl::StatusOr<PublicKey> PublicKey::FromJwk(const Jwk& jwk) {
  if (!jwk.use.empty() && jwk.use != "sig") {
    return Invalid("jwk use is not sig");
  }
  if (jwk.alg.empty()) return Invalid("jwk alg is missing");
  absl::StatusOr<Algorithm> alg = ParseAlgorithm(jwk.alg);
  if (!alg.ok()) return Invalid("jwk alg is not supported");
  absl::StatusOr<Pkey> pkey = PublicKeyFromJwk(jwk, *alg);
  if (!pkey.ok()) return pkey.status();
  absl::Status valid = CheckPublicKey(pkey->get());
  if (valid.ok()) valid = CheckKeyFitsAlgorithm(pkey->get(), *alg);
  if (!valid.ok()) return valid;
  return PublicKey(std::shared_ptr<EVP_PKEY>(pkey->release(), EVP_PKEY_free),
                   jwk.kid, *alg);
}

absl::StatusOr<PublicKey> PublicKey::FromPem(absl::string_view pem,
                                             std::string kid, Algorithm alg) {
  absl::StatusOr<Pkey> pkey =
      DecodePem(pem, "SubjectPublicKeyInfo", EVP_PKEY_PUBLIC_KEY, alg);
  if (!pkey.ok()) return pkey.status();
  absl::Status valid = CheckPublicKey(pkey->get());
  if (!valid.ok()) return valid;
  return PublicKey(std::shared_ptr<EVP_PKEY>(pkey->release(), EVP_PKEY_free),
                   std::move(kid), alg);
}

Jwk PublicKey::ToJwk() const {
  Jwk jwk;
  jwk.kid = kid_;
  jwk.alg = std::string(AlgorithmName(alg_));
  jwk.use = "sig";
  switch (alg_) {
    case Algorithm::kES256:
      jwk.kty = "EC";
      jwk.crv = "P-256";
      jwk.x = Base64UrlEncode(BigNumParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X,
                                          kP256CoordinateBytes));
      jwk.y = Base64UrlEncode(BigNumParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y,
                                          kP256CoordinateBytes));
      break;
    case Algorithm::kEdDSA: {
      jwk.kty = "OKP";
      jwk.crv = "Ed25519";
      std::string x(kEd25519KeyBytes, '\0');
      size_t len = x.size();
      if (EVP_PKEY_get_raw_public_key(
              pkey_.get(), reinterpret_cast<unsigned char*>(x.data()), &len) ==
              1 &&
          len == kEd25519KeyBytes) {
        jwk.x = Base64UrlEncode(x);
      }
      break;
    }
    case Algorithm::kRS256:
      jwk.kty = "RSA";
      jwk.n =
          Base64UrlEncode(BigNumParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_N, 0));
      jwk.e =
          Base64UrlEncode(BigNumParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_E, 0));
      break;
  }
  return jwk;
}

absl::Status PublicKey::VerifySignature(absl::string_view signing_input,
                                        absl::string_view signature) const {
  std::string der;
  absl::string_view checked = signature;
  switch (alg_) {
    case Algorithm::kES256: {
      absl::StatusOr<std::string> converted = Es256SignatureToDer(signature);
      if (!converted.ok()) return converted.status();
      der = *std::move(converted);
      checked = der;
      break;
    }
    case Algorithm::kEdDSA:
      if (signature.size() != kEd25519SignatureBytes) {
        return BadSignature("eddsa signature is not 64 bytes");
      }
      break;
    case Algorithm::kRS256:
      if (signature.size() !=
          static_cast<size_t>(EVP_PKEY_get_size(pkey_.get()))) {
        return BadSignature("rs256 signature is not the modulus size");
      }
      break;
  }
  MdCtx ctx(EVP_MD_CTX_new());
  if (!Start(ctx.get(), verify_template_.get(), pkey_.get(), alg_,
             /*sign=*/false)) {
    return Internal("cannot start verification");
  }
  if (EVP_DigestVerify(ctx.get(), Bytes(checked), checked.size(),
                       Bytes(signing_input), signing_input.size()) != 1) {
    return BadSignature("signature does not verify");
  }
  return absl::OkStatus();
}

PrivateKey::PrivateKey(std::shared_ptr<EVP_PKEY> pkey, std::string kid,
                       Algorithm alg)
    : pkey_(std::move(pkey)),
      kid_(std::move(kid)),
      alg_(alg),
      sign_template_(ReadyContext(pkey_.get(), alg_, /*sign=*/true)) {}

absl::StatusOr<PrivateKey> PrivateKey::Generate(Algorithm alg,
                                                std::string kid) {
  if (kid.empty()) return Invalid("key needs a kid");
  EVP_PKEY* raw = nullptr;
  switch (alg) {
    case Algorithm::kES256:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case Algorithm::kEdDSA:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case Algorithm::kRS256:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
                              static_cast<size_t>(kRsaGenerateBits));
      break;
  }
  if (raw == nullptr) return Internal("key generation failed");
  return PrivateKey(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free),
                    std::move(kid), alg);
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(absl::string_view pem,
                                               std::string kid, Algorithm alg) {
  if (kid.empty()) return Invalid("key needs a kid");
  absl::StatusOr<Pkey> pkey =
      DecodePem(pem, "PrivateKeyInfo", EVP_PKEY_KEYPAIR, alg);
  if (!pkey.ok()) return pkey.status();
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey->get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_check(ctx.get()) != 1) {
    return Invalid("private key fails validation");
  }
  return PrivateKey(std::shared_ptr<EVP_PKEY>(pkey->release(), EVP_PKEY_free),
                    std::move(kid), alg);
}

// Shares the OpenSSL key: PublicKey offers only public operations and
// exports only public members, so the private half stays unreachable.
PublicKey PrivateKey::public_key() const {
  return PublicKey(pkey_, kid_, alg_);
}

absl::StatusOr<std::string> PrivateKey::ToPem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return Internal("out of memory");
  if (PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    return Internal("cannot encode the private key as pem");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (data == nullptr || len <= 0) {
    return Internal("cannot encode the private key as pem");
  }
  return std::string(data, static_cast<size_t>(len));
}

absl::StatusOr<std::string> PrivateKey::Sign(
    absl::string_view signing_input) const {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!Start(ctx.get(), sign_template_.get(), pkey_.get(), alg_,
             /*sign=*/true)) {
    return Internal("cannot start signing");
  }
  std::string signature(EVP_PKEY_get_size(pkey_.get()), '\0');
  size_t len = signature.size();
  if (EVP_DigestSign(ctx.get(),
                     reinterpret_cast<unsigned char*>(signature.data()), &len,
                     Bytes(signing_input), signing_input.size()) != 1) {
    return Internal("signing failed");
  }
  signature.resize(len);
  if (alg_ == Algorithm::kES256) return DerToEs256Signature(signature);
  return signature;
}

}  // namespace sigil::token
