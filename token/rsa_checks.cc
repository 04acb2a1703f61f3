#include "token/rsa_checks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <cstddef>
#include <cstdlib>
#include <memory>

#include "token/key_internal.h"

namespace sigil::token::internal {
namespace {

using BnCtx = std::unique_ptr<BN_CTX, OpenSslFree<BN_CTX_free>>;

constexpr int kMinRsaBits = 2048;
// A verifier does work proportional to the modulus size for every token, so
// a key set must not be able to make each Verify arbitrarily expensive.
constexpr int kMaxRsaBits = 8192;
// Larger exponents have no legitimate use and make verification slower.
constexpr size_t kMaxRsaExponentBytes = 8;

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

}  // namespace

absl::Status CheckRsaModulusBits(int bits) {
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return Invalid("rsa modulus size is out of range");
  }
  return absl::OkStatus();
}

absl::Status CheckRsaExponent(const BIGNUM* e) {
  if (static_cast<size_t>(BN_num_bytes(e)) > kMaxRsaExponentBytes ||
      !BN_is_odd(e) || BN_is_one(e)) {
    return Invalid("rsa exponent must be odd, above 1 and at most 64 bits");
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

}  // namespace sigil::token::internal
