#include "token/ecdsa_signature.h"

#include <openssl/bn.h>
#include <openssl/ec.h>

#include <cstddef>
#include <cstring>
#include <memory>

#include "token/key_internal.h"

namespace sigil::token::internal {
namespace {

using EcdsaSig = std::unique_ptr<ECDSA_SIG, OpenSslFree<ECDSA_SIG_free>>;

constexpr size_t kEs256SignatureBytes = 2 * kP256CoordinateBytes;

// The order n of the P-256 base point (FIPS 186-4 D.1.2.3), big-endian.
constexpr unsigned char kP256Order[kP256CoordinateBytes] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
    0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

bool IsZero(absl::string_view bytes) {
  for (char c : bytes) {
    if (c != '\0') return false;
  }
  return true;
}

bool BelowP256Order(absl::string_view bytes) {
  return std::memcmp(bytes.data(), kP256Order, kP256CoordinateBytes) < 0;
}

}  // namespace

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

}  // namespace sigil::token::internal
