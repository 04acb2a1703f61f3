#include "token/jwk_import.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "token/base64url.h"
#include "token/rsa_checks.h"

namespace sigil::token::internal {
namespace {

using ParamBld =
    std::unique_ptr<OSSL_PARAM_BLD, OpenSslFree<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, OpenSslFree<OSSL_PARAM_free>>;

absl::StatusOr<Pkey> PublicKeyFromParams(const char* type,
                                         OSSL_PARAM_BLD* bld) {
  Params params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr) return Internal("out of memory");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) !=
          1) {
    return Invalid("jwk does not describe a valid key");
  }
  return Pkey(raw);
}

absl::StatusOr<std::string> DecodeMember(absl::string_view name,
                                         const std::string& value) {
  if (value.empty()) return Invalid(absl::StrCat("jwk ", name, " is missing"));
  absl::StatusOr<std::string> decoded = Base64UrlDecode(value);
  if (!decoded.ok()) {
    return Invalid(absl::StrCat("jwk ", name, " is not base64url"));
  }
  return decoded;
}

absl::StatusOr<std::string> DecodeFixedMember(absl::string_view name,
                                              const std::string& value,
                                              size_t size) {
  absl::StatusOr<std::string> decoded = DecodeMember(name, value);
  if (decoded.ok() && decoded->size() != size) {
    return Invalid(absl::StrCat("jwk ", name, " has the wrong length"));
  }
  return decoded;
}

// RFC 7518 6.3.1: the minimum number of octets, so one key has one spelling.
absl::StatusOr<BigNum> DecodeUnsigned(absl::string_view name,
                                      const std::string& value) {
  absl::StatusOr<std::string> bytes = DecodeMember(name, value);
  if (!bytes.ok()) return bytes.status();
  if (bytes->empty() || (*bytes)[0] == '\0') {
    return Invalid(absl::StrCat("jwk ", name, " is not minimally encoded"));
  }
  BigNum bn(BN_bin2bn(Bytes(*bytes), static_cast<int>(bytes->size()), nullptr));
  if (bn == nullptr) return Internal("out of memory");
  return bn;
}

absl::StatusOr<Pkey> EcKeyFromJwk(const Jwk& jwk) {
  if (jwk.kty != "EC") return Invalid("es256 needs kty EC");
  if (jwk.crv != "P-256") return Invalid("es256 needs crv P-256");
  if (!jwk.n.empty() || !jwk.e.empty()) {
    return Invalid("ec jwk has rsa members");
  }
  absl::StatusOr<std::string> x =
      DecodeFixedMember("x", jwk.x, kP256CoordinateBytes);
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y =
      DecodeFixedMember("y", jwk.y, kP256CoordinateBytes);
  if (!y.ok()) return y.status();
  const std::string point = absl::StrCat("\x04", *x, *y);
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      SN_X9_62_prime256v1, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                       point.data(), point.size()) != 1) {
    return Internal("out of memory");
  }
  return PublicKeyFromParams("EC", bld.get());
}

absl::StatusOr<Pkey> OkpKeyFromJwk(const Jwk& jwk) {
  if (jwk.kty != "OKP") return Invalid("eddsa needs kty OKP");
  if (jwk.crv != "Ed25519") return Invalid("eddsa needs crv Ed25519");
  if (!jwk.y.empty() || !jwk.n.empty() || !jwk.e.empty()) {
    return Invalid("okp jwk has foreign members");
  }
  absl::StatusOr<std::string> x =
      DecodeFixedMember("x", jwk.x, kEd25519KeyBytes);
  if (!x.ok()) return x.status();
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                       x->data(), x->size()) != 1) {
    return Internal("out of memory");
  }
  return PublicKeyFromParams("ED25519", bld.get());
}

absl::StatusOr<Pkey> RsaKeyFromJwk(const Jwk& jwk) {
  if (jwk.kty != "RSA") return Invalid("rs256 needs kty RSA");
  if (!jwk.crv.empty() || !jwk.x.empty() || !jwk.y.empty()) {
    return Invalid("rsa jwk has ec members");
  }
  absl::StatusOr<BigNum> n = DecodeUnsigned("n", jwk.n);
  if (!n.ok()) return n.status();
  absl::Status size = CheckRsaModulusBits(BN_num_bits(n->get()));
  if (!size.ok()) return size;
  absl::StatusOr<BigNum> e = DecodeUnsigned("e", jwk.e);
  if (!e.ok()) return e.status();
  absl::Status exponent = CheckRsaExponent(e->get());
  if (!exponent.ok()) return exponent;
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n->get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e->get()) != 1) {
    return Internal("out of memory");
  }
  return PublicKeyFromParams("RSA", bld.get());
}

}  // namespace

absl::StatusOr<Pkey> PublicKeyFromJwk(const Jwk& jwk, Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256:
      return EcKeyFromJwk(jwk);
    case Algorithm::kEdDSA:
      return OkpKeyFromJwk(jwk);
    case Algorithm::kRS256:
      return RsaKeyFromJwk(jwk);
  }
  return Invalid("jwk alg is not supported");
}

}  // namespace sigil::token::internal
