#include "token/key.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "token/base64url.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

template <auto kFree>
struct OpenSslFree {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using BigNum = std::unique_ptr<BIGNUM, OpenSslFree<BN_free>>;
using BnCtx = std::unique_ptr<BN_CTX, OpenSslFree<BN_CTX_free>>;
using Bio = std::unique_ptr<BIO, OpenSslFree<BIO_free>>;
using DecoderCtx =
    std::unique_ptr<OSSL_DECODER_CTX, OpenSslFree<OSSL_DECODER_CTX_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, OpenSslFree<ECDSA_SIG_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, OpenSslFree<EVP_MD_CTX_free>>;
using ParamBld =
    std::unique_ptr<OSSL_PARAM_BLD, OpenSslFree<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, OpenSslFree<OSSL_PARAM_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, OpenSslFree<EVP_PKEY_CTX_free>>;

constexpr size_t kP256CoordinateBytes = 32;
constexpr size_t kEs256SignatureBytes = 2 * kP256CoordinateBytes;
constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;
constexpr int kRsaGenerateBits = 2048;
constexpr int kMinRsaBits = 2048;
// A verifier does work proportional to the modulus size for every token, so
// a key set must not be able to make each Verify arbitrarily expensive.
constexpr int kMaxRsaBits = 8192;
// Larger exponents have no legitimate use and make verification slower.
constexpr size_t kMaxRsaExponentBytes = 8;

// The order n of the P-256 base point (FIPS 186-4 D.1.2.3), big-endian.
constexpr unsigned char kP256Order[kP256CoordinateBytes] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
    0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

// OpenSSL reports details on a thread-local queue; Sigil reports its own
// short message instead, so the queue must not leak into later calls.
absl::Status Invalid(absl::string_view message) {
  ERR_clear_error();
  return absl::InvalidArgumentError(message);
}

absl::Status Internal(absl::string_view message) {
  ERR_clear_error();
  return absl::InternalError(message);
}

absl::Status BadSignature(absl::string_view message) {
  ERR_clear_error();
  return VerdictError(Reason::kBadSignature, message);
}

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

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
    case Algorithm::kRS256: {
      if (!EVP_PKEY_is_a(pkey, "RSA")) return Invalid("rs256 needs an rsa key");
      const int bits = EVP_PKEY_get_bits(pkey);
      if (bits < kMinRsaBits || bits > kMaxRsaBits) {
        return Invalid("rsa modulus size is out of range");
      }
      return absl::OkStatus();
    }
  }
  return Invalid("unsupported algorithm");
}

absl::Status CheckRsaExponent(const BIGNUM* e) {
  if (static_cast<size_t>(BN_num_bytes(e)) > kMaxRsaExponentBytes ||
      !BN_is_odd(e) || BN_is_one(e)) {
    return Invalid("rsa exponent must be odd, above 1 and at most 64 bits");
  }
  return absl::OkStatus();
}

// The product of the odd primes below 752 (SP 800-56B 6.4.2.2: a modulus
// has no factor that small). Built once; read-only afterwards.
const BIGNUM* SmallPrimesProduct() {
  static const BIGNUM* product = [] {
    BIGNUM* p = BN_new();
    if (p == nullptr || BN_one(p) != 1) std::abort();
    for (BN_ULONG n = 3; n < 752; n += 2) {
      bool prime = true;
      for (BN_ULONG d = 3; d * d <= n && prime; d += 2) prime = n % d != 0;
      if (prime && BN_mul_word(p, n) != 1) std::abort();
    }
    return p;
  }();
  return product;
}

// OpenSSL's EVP_PKEY_public_check tests an RSA modulus with Miller-Rabin at
// random bases, so a crafted modulus could load on one fetch of a key set
// and fail on the next. These checks are repeatable: an odd modulus
// without small factors, and the Fermat test to the fixed base 2 with a
// gcd, which refuses a prime modulus (2^(n-1) = 1) and a prime power p^k
// (2^(n-1) = 1 mod p), both of which anyone can factor. A real modulus pq
// passes unless 2 has order dividing n-1 modulo p or q, which random
// primes of RSA size never give.
absl::Status CheckRsaModulus(const BIGNUM* n) {
  BnCtx ctx(BN_CTX_new());
  BigNum gcd(BN_new());
  BigNum exponent(BN_dup(n));
  BigNum two(BN_new());
  BigNum fermat(BN_new());
  if (ctx == nullptr || gcd == nullptr || exponent == nullptr ||
      two == nullptr || fermat == nullptr || BN_set_word(two.get(), 2) != 1 ||
      BN_sub_word(exponent.get(), 1) != 1) {
    return Internal("out of memory");
  }
  if (!BN_is_odd(n)) return Invalid("rsa modulus is even");
  if (BN_gcd(gcd.get(), n, SmallPrimesProduct(), ctx.get()) != 1) {
    return Internal("cannot check the rsa modulus");
  }
  if (!BN_is_one(gcd.get())) return Invalid("rsa modulus has a small factor");
  if (BN_mod_exp(fermat.get(), two.get(), exponent.get(), n, ctx.get()) != 1 ||
      BN_sub_word(fermat.get(), 1) != 1 ||
      BN_gcd(gcd.get(), fermat.get(), n, ctx.get()) != 1) {
    return Internal("cannot check the rsa modulus");
  }
  // gcd(0, n) is n: the prime case lands here too.
  if (!BN_is_one(gcd.get())) {
    return Invalid("rsa modulus is prime, a prime power or degenerate");
  }
  return absl::OkStatus();
}

absl::Status CheckRsaPublicKey(const EVP_PKEY* pkey) {
  BIGNUM* raw_n = nullptr;
  BIGNUM* raw_e = nullptr;
  const bool got_n =
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &raw_n) == 1;
  BigNum n(raw_n);
  const bool got_e =
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &raw_e) == 1;
  BigNum e(raw_e);
  if (!got_n || !got_e) return Invalid("rsa key has no modulus or exponent");
  absl::Status exponent = CheckRsaExponent(e.get());
  if (!exponent.ok()) return exponent;
  return CheckRsaModulus(n.get());
}

// EVP_PKEY_public_check is deterministic for EC points and Ed25519 keys;
// RSA keys get CheckRsaPublicKey instead (see there).
absl::Status CheckPublicKey(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "RSA")) return CheckRsaPublicKey(pkey);
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (ctx == nullptr || EVP_PKEY_public_check(ctx.get()) != 1) {
    return Invalid("public key fails validation");
  }
  return absl::OkStatus();
}

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
  const int bits = BN_num_bits(n->get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return Invalid("rsa modulus size is out of range");
  }
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

std::string BigNumParam(const EVP_PKEY* pkey, const char* name, int size) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) return "";
  BigNum bn(raw);
  std::string out(size > 0 ? size : BN_num_bytes(bn.get()), '\0');
  unsigned char* buf = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(bn.get(), buf, static_cast<int>(out.size())) < 0) return "";
  return out;
}

bool IsZero(absl::string_view bytes) {
  for (char c : bytes) {
    if (c != '\0') return false;
  }
  return true;
}

bool BelowP256Order(absl::string_view bytes) {
  return std::memcmp(bytes.data(), kP256Order, kP256CoordinateBytes) < 0;
}

// JWS carries ES256 as fixed-width r||s (RFC 7518 3.4); OpenSSL wants DER.
absl::StatusOr<std::string> Es256SignatureToDer(absl::string_view signature) {
  if (signature.size() != kEs256SignatureBytes) {
    return BadSignature("es256 signature is not 64 bytes");
  }
  const absl::string_view r = signature.substr(0, kP256CoordinateBytes);
  const absl::string_view s = signature.substr(kP256CoordinateBytes);
  if (IsZero(r) || IsZero(s) || !BelowP256Order(r) || !BelowP256Order(s)) {
    return BadSignature("es256 signature is out of range");
  }
  EcdsaSig sig(ECDSA_SIG_new());
  BigNum r_bn(BN_bin2bn(Bytes(r), kP256CoordinateBytes, nullptr));
  BigNum s_bn(BN_bin2bn(Bytes(s), kP256CoordinateBytes, nullptr));
  if (sig == nullptr || r_bn == nullptr || s_bn == nullptr ||
      ECDSA_SIG_set0(sig.get(), r_bn.get(), s_bn.get()) != 1) {
    return Internal("out of memory");
  }
  r_bn.release();  // owned by sig now
  s_bn.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return Internal("cannot encode the signature");
  std::string der(len, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) {
    return Internal("cannot encode the signature");
  }
  return der;
}

absl::StatusOr<std::string> DerToEs256Signature(absl::string_view der) {
  const unsigned char* in = Bytes(der);
  EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (sig == nullptr) return Internal("cannot decode the signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(kEs256SignatureBytes, '\0');
  unsigned char* buf = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, buf, kP256CoordinateBytes) < 0 ||
      BN_bn2binpad(s, buf + kP256CoordinateBytes, kP256CoordinateBytes) < 0) {
    return Internal("cannot encode the signature");
  }
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
  absl::StatusOr<Pkey> pkey;
  switch (*alg) {
    case Algorithm::kES256:
      pkey = EcKeyFromJwk(jwk);
      break;
    case Algorithm::kEdDSA:
      pkey = OkpKeyFromJwk(jwk);
      break;
    case Algorithm::kRS256:
      pkey = RsaKeyFromJwk(jwk);
      break;
  }
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
