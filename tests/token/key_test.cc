#include "token/key.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/algorithm.h"
#include "token/base64url.h"
#include "token/key_set.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::Not;

constexpr Algorithm kAllAlgorithms[] = {Algorithm::kES256, Algorithm::kEdDSA,
                                        Algorithm::kRS256};

std::string AlgorithmTestName(const ::testing::TestParamInfo<Algorithm>& info) {
  return std::string(AlgorithmName(info.param));
}

// One key per algorithm for the whole binary: RSA generation is slow.
const PrivateKey& KeyFor(Algorithm alg) {
  static const auto* keys = [] {
    auto* map = new std::vector<PrivateKey>();
    for (Algorithm a : kAllAlgorithms) {
      map->push_back(
          *PrivateKey::Generate(a, absl::StrCat("key-", AlgorithmName(a))));
    }
    return map;
  }();
  return (*keys)[static_cast<int>(alg)];
}

// The SubjectPublicKeyInfo PEM of a private key, through OpenSSL directly:
// the library itself never writes public PEM.
std::string PublicPem(const PrivateKey& key) {
  const std::string pem = key.ToPem().value_or("");
  std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr),
      EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (pkey == nullptr || PEM_write_bio_PUBKEY(out.get(), pkey.get()) != 1) {
    return "";
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, len);
}

bool SameJwk(const Jwk& a, const Jwk& b) {
  return a.kty == b.kty && a.kid == b.kid && a.alg == b.alg && a.use == b.use &&
         a.crv == b.crv && a.x == b.x && a.y == b.y && a.n == b.n && a.e == b.e;
}

class KeyAlgorithmTest : public ::testing::TestWithParam<Algorithm> {};

INSTANTIATE_TEST_SUITE_P(All, KeyAlgorithmTest,
                         ::testing::ValuesIn(kAllAlgorithms),
                         AlgorithmTestName);

TEST_P(KeyAlgorithmTest, SignThenVerify) {
  const PrivateKey& key = KeyFor(GetParam());
  EXPECT_EQ(key.algorithm(), GetParam());
  absl::StatusOr<std::string> signature = key.Sign("header.payload");
  ASSERT_THAT(signature, IsOk());
  const size_t expected_size = GetParam() == Algorithm::kRS256 ? 256 : 64;
  EXPECT_EQ(signature->size(), expected_size);

  const PublicKey public_key = key.public_key();
  EXPECT_EQ(public_key.kid(), key.kid());
  EXPECT_EQ(public_key.algorithm(), GetParam());
  EXPECT_THAT(public_key.VerifySignature("header.payload", *signature), IsOk());

  absl::Status tampered_input =
      public_key.VerifySignature("header.payloaD", *signature);
  EXPECT_EQ(ReasonOf(tampered_input), Reason::kBadSignature);
  std::string flipped = *signature;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(ReasonOf(public_key.VerifySignature("header.payload", flipped)),
            Reason::kBadSignature);
  EXPECT_EQ(ReasonOf(public_key.VerifySignature("header.payload",
                                                signature->substr(1))),
            Reason::kBadSignature);
  EXPECT_EQ(ReasonOf(public_key.VerifySignature(
                "header.payload", *signature + std::string(1, '\0'))),
            Reason::kBadSignature);
  EXPECT_EQ(ReasonOf(public_key.VerifySignature("header.payload", "")),
            Reason::kBadSignature);
}

// One key signs for every thread of the authority at once: each signature
// must still be its own message's.
TEST_P(KeyAlgorithmTest, OneKeySignsFromManyThreadsAtOnce) {
  constexpr int kThreads = 4;
  constexpr int kSignatures = 50;
  const PrivateKey& key = KeyFor(GetParam());
  const PublicKey public_key = key.public_key();
  std::vector<std::vector<std::string>> signatures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSignatures; ++i) {
        absl::StatusOr<std::string> signature =
            key.Sign(absl::StrCat("message ", t, " ", i));
        signatures[t].push_back(signature.ok() ? *signature : "");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kSignatures; ++i) {
      const std::string message = absl::StrCat("message ", t, " ", i);
      EXPECT_THAT(public_key.VerifySignature(message, signatures[t][i]), IsOk())
          << message;
    }
  }
}

TEST_P(KeyAlgorithmTest, SignatureOfAnotherKeyFails) {
  absl::StatusOr<PrivateKey> other = PrivateKey::Generate(GetParam(), "other");
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<std::string> signature = other->Sign("message");
  ASSERT_THAT(signature, IsOk());
  EXPECT_EQ(ReasonOf(KeyFor(GetParam())
                         .public_key()
                         .VerifySignature("message", *signature)),
            Reason::kBadSignature);
}

TEST_P(KeyAlgorithmTest, PrivatePemRoundTrip) {
  const PrivateKey& key = KeyFor(GetParam());
  absl::StatusOr<std::string> pem = key.ToPem();
  ASSERT_THAT(pem, IsOk());
  EXPECT_TRUE(absl::StartsWith(*pem, "-----BEGIN PRIVATE KEY-----\n")) << *pem;
  EXPECT_TRUE(absl::EndsWith(*pem, "-----END PRIVATE KEY-----\n")) << *pem;

  absl::StatusOr<PrivateKey> restored =
      PrivateKey::FromPem(*pem, "restored", GetParam());
  ASSERT_THAT(restored, IsOk());
  EXPECT_EQ(restored->kid(), "restored");
  EXPECT_EQ(restored->ToPem().value_or(""), *pem);
  absl::StatusOr<std::string> signature = restored->Sign("message");
  ASSERT_THAT(signature, IsOk());
  EXPECT_THAT(key.public_key().VerifySignature("message", *signature), IsOk());

  Jwk original = key.public_key().ToJwk();
  original.kid = "restored";
  EXPECT_TRUE(SameJwk(restored->public_key().ToJwk(), original));
}

TEST_P(KeyAlgorithmTest, PemOfAnotherKeyTypeIsRejected) {
  const std::string pem = KeyFor(GetParam()).ToPem().value();
  const std::string public_pem = PublicPem(KeyFor(GetParam()));
  ASSERT_FALSE(public_pem.empty());
  for (Algorithm other : kAllAlgorithms) {
    if (other == GetParam()) continue;
    SCOPED_TRACE(AlgorithmName(other));
    absl::StatusOr<PrivateKey> private_key =
        PrivateKey::FromPem(pem, "kid", other);
    EXPECT_THAT(private_key, StatusIs(absl::StatusCode::kInvalidArgument));
    absl::StatusOr<PublicKey> public_key =
        PublicKey::FromPem(public_pem, "kid", other);
    EXPECT_THAT(public_key, StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_P(KeyAlgorithmTest, PublicPemImports) {
  const PrivateKey& key = KeyFor(GetParam());
  absl::StatusOr<PublicKey> public_key =
      PublicKey::FromPem(PublicPem(key), "pem-kid", GetParam());
  ASSERT_THAT(public_key, IsOk());
  EXPECT_EQ(public_key->kid(), "pem-kid");
  absl::StatusOr<std::string> signature = key.Sign("message");
  ASSERT_THAT(signature, IsOk());
  EXPECT_THAT(public_key->VerifySignature("message", *signature), IsOk());
}

TEST_P(KeyAlgorithmTest, PemOfTheWrongKindIsRejected) {
  const PrivateKey& key = KeyFor(GetParam());
  EXPECT_THAT(PublicKey::FromPem(key.ToPem().value(), "kid", GetParam()),
              Not(IsOk()))
      << "a private key PEM is not a public key PEM";
  EXPECT_THAT(PrivateKey::FromPem(PublicPem(key), "kid", GetParam()),
              Not(IsOk()))
      << "a public key PEM is not a private key PEM";
}

TEST_P(KeyAlgorithmTest, JwkRoundTrip) {
  const PrivateKey& key = KeyFor(GetParam());
  const Jwk jwk = key.public_key().ToJwk();
  EXPECT_EQ(jwk.kid, key.kid());
  EXPECT_EQ(jwk.alg, AlgorithmName(GetParam()));
  EXPECT_EQ(jwk.use, "sig");

  absl::StatusOr<PublicKey> imported = PublicKey::FromJwk(jwk);
  ASSERT_THAT(imported, IsOk());
  EXPECT_TRUE(SameJwk(imported->ToJwk(), jwk));
  absl::StatusOr<std::string> signature = key.Sign("message");
  ASSERT_THAT(signature, IsOk());
  EXPECT_THAT(imported->VerifySignature("message", *signature), IsOk());

  absl::StatusOr<Jwk> reparsed = ParseJwk(JwkToJson(jwk));
  ASSERT_THAT(reparsed, IsOk());
  EXPECT_TRUE(SameJwk(*reparsed, jwk));
}

TEST(KeyTest, JwkExportHasOnlyPublicMembers) {
  for (Algorithm alg : kAllAlgorithms) {
    SCOPED_TRACE(AlgorithmName(alg));
    const std::string json = JwkToJson(KeyFor(alg).public_key().ToJwk());
    for (absl::string_view private_member :
         {"\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\"", "\"k\""}) {
      EXPECT_FALSE(absl::StrContains(json, private_member)) << json;
    }
  }
}

TEST(KeyTest, EmptyKidIsRejectedForSigningKeys) {
  EXPECT_THAT(PrivateKey::Generate(Algorithm::kES256, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PrivateKey::FromPem(KeyFor(Algorithm::kES256).ToPem().value(), "",
                                  Algorithm::kES256),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(KeyTest, GarbagePemIsRejected) {
  for (absl::string_view pem :
       {"", "not a pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"}) {
    SCOPED_TRACE(pem);
    EXPECT_THAT(PrivateKey::FromPem(pem, "kid", Algorithm::kES256),
                Not(IsOk()));
    EXPECT_THAT(PublicKey::FromPem(pem, "kid", Algorithm::kES256), Not(IsOk()));
  }
}

// ES256 r||s edge cases the raw vectors do not isolate: the bounds checks
// happen before OpenSSL sees the signature.
TEST(KeyTest, Es256SignatureRangeChecks) {
  const PrivateKey& key = KeyFor(Algorithm::kES256);
  absl::StatusOr<std::string> signature = key.Sign("message");
  ASSERT_THAT(signature, IsOk());
  const std::string r = signature->substr(0, 32);
  const std::string s = signature->substr(32);
  const std::string zero(32, '\0');
  const std::string order = absl::HexStringToBytes(
      "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

  // n - s verifies as well: JWS has no low-S rule, so signatures are
  // malleable and must never serve as identifiers.
  std::unique_ptr<BIGNUM, decltype(&BN_free)> n(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(order.data()), 32,
                nullptr),
      BN_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> s_bn(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(s.data()), 32, nullptr),
      BN_free);
  ASSERT_EQ(BN_sub(s_bn.get(), n.get(), s_bn.get()), 1);
  std::string high_s(32, '\0');
  ASSERT_EQ(BN_bn2binpad(s_bn.get(),
                         reinterpret_cast<unsigned char*>(high_s.data()), 32),
            32);

  struct Case {
    const char* name;
    std::string signature;
    bool valid;
  };
  const Case cases[] = {
      {"original", *signature, true},
      {"n minus s", r + high_s, true},
      {"r zero", zero + s, false},
      {"s zero", r + zero, false},
      {"r equals n", order + s, false},
      {"s equals n", r + order, false},
      {"r all ones", std::string(32, '\xff') + s, false},
      {"63 bytes", signature->substr(1), false},
      {"65 bytes", *signature + "\x01", false},
  };
  const PublicKey public_key = key.public_key();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status status = public_key.VerifySignature("message", c.signature);
    EXPECT_EQ(ReasonOf(status),
              c.valid ? Reason::kValid : Reason::kBadSignature)
        << status;
  }
}

struct HostileJwk {
  const char* name;
  Algorithm base;
  std::function<void(Jwk&)> mutate;
};

std::string Decoded(const std::string& b64) { return *Base64UrlDecode(b64); }

std::string FlipLastBit(const std::string& b64) {
  std::string bytes = Decoded(b64);
  bytes.back() ^= 0x01;
  return Base64UrlEncode(bytes);
}

TEST(KeyTest, HostileJwksAreRejected) {
  const std::vector<HostileJwk> cases = {
      {"ec point off the curve", Algorithm::kES256,
       [](Jwk& j) { j.y = FlipLastBit(j.y); }},
      {"ec point at zero", Algorithm::kES256,
       [](Jwk& j) { j.x = j.y = Base64UrlEncode(std::string(32, '\0')); }},
      {"ec x of 31 bytes", Algorithm::kES256,
       [](Jwk& j) { j.x = Base64UrlEncode(Decoded(j.x).substr(1)); }},
      {"ec x of 33 bytes", Algorithm::kES256,
       [](Jwk& j) {
         j.x = Base64UrlEncode(std::string(1, '\0') + Decoded(j.x));
       }},
      {"ec y missing", Algorithm::kES256, [](Jwk& j) { j.y.clear(); }},
      {"ec x in base64 with padding", Algorithm::kES256,
       [](Jwk& j) { j.x += "="; }},
      {"ec crv P-384", Algorithm::kES256, [](Jwk& j) { j.crv = "P-384"; }},
      {"ec crv missing", Algorithm::kES256, [](Jwk& j) { j.crv.clear(); }},
      {"ec kty RSA", Algorithm::kES256, [](Jwk& j) { j.kty = "RSA"; }},
      {"ec kty missing", Algorithm::kES256, [](Jwk& j) { j.kty.clear(); }},
      {"ec alg RS256", Algorithm::kES256, [](Jwk& j) { j.alg = "RS256"; }},
      {"ec alg ES384", Algorithm::kES256, [](Jwk& j) { j.alg = "ES384"; }},
      {"ec alg none", Algorithm::kES256, [](Jwk& j) { j.alg = "none"; }},
      {"ec alg missing", Algorithm::kES256, [](Jwk& j) { j.alg.clear(); }},
      {"ec use enc", Algorithm::kES256, [](Jwk& j) { j.use = "enc"; }},
      {"ec with rsa members", Algorithm::kES256,
       [](Jwk& j) {
         j.n = j.x;
         j.e = "AQAB";
       }},
      {"okp x of 31 bytes", Algorithm::kEdDSA,
       [](Jwk& j) { j.x = Base64UrlEncode(Decoded(j.x).substr(1)); }},
      {"okp x missing", Algorithm::kEdDSA, [](Jwk& j) { j.x.clear(); }},
      {"okp crv X25519", Algorithm::kEdDSA, [](Jwk& j) { j.crv = "X25519"; }},
      {"okp crv Ed448", Algorithm::kEdDSA, [](Jwk& j) { j.crv = "Ed448"; }},
      {"okp kty EC", Algorithm::kEdDSA, [](Jwk& j) { j.kty = "EC"; }},
      {"okp alg ES256", Algorithm::kEdDSA, [](Jwk& j) { j.alg = "ES256"; }},
      {"okp with y", Algorithm::kEdDSA, [](Jwk& j) { j.y = j.x; }},
      {"rsa 1024-bit modulus", Algorithm::kRS256,
       [](Jwk& j) { j.n = Base64UrlEncode(Decoded(j.n).substr(0, 128)); }},
      {"rsa 2047-bit modulus", Algorithm::kRS256,
       [](Jwk& j) {
         std::string n = Decoded(j.n);
         n[0] = 0x7f;
         j.n = Base64UrlEncode(n);
       }},
      {"rsa even modulus", Algorithm::kRS256,
       [](Jwk& j) {
         std::string n = Decoded(j.n);
         n.back() &= ~1;
         j.n = Base64UrlEncode(n);
       }},
      {"rsa modulus with a leading zero", Algorithm::kRS256,
       [](Jwk& j) {
         j.n = Base64UrlEncode(std::string(1, '\0') + Decoded(j.n));
       }},
      {"rsa exponent 1", Algorithm::kRS256, [](Jwk& j) { j.e = "AQ"; }},
      {"rsa exponent even", Algorithm::kRS256, [](Jwk& j) { j.e = "AQAA"; }},
      {"rsa exponent with a leading zero", Algorithm::kRS256,
       [](Jwk& j) { j.e = "AAEAAQ"; }},
      {"rsa exponent of 9 bytes", Algorithm::kRS256,
       [](Jwk& j) { j.e = Base64UrlEncode(std::string(9, '\x01')); }},
      {"rsa exponent missing", Algorithm::kRS256, [](Jwk& j) { j.e.clear(); }},
      {"rsa modulus missing", Algorithm::kRS256, [](Jwk& j) { j.n.clear(); }},
      {"rsa alg PS256", Algorithm::kRS256, [](Jwk& j) { j.alg = "PS256"; }},
      {"rsa alg RS512", Algorithm::kRS256, [](Jwk& j) { j.alg = "RS512"; }},
      {"rsa alg ES256", Algorithm::kRS256, [](Jwk& j) { j.alg = "ES256"; }},
      {"rsa kty oct", Algorithm::kRS256, [](Jwk& j) { j.kty = "oct"; }},
      {"rsa with crv", Algorithm::kRS256, [](Jwk& j) { j.crv = "P-256"; }},
      {"rsa use enc", Algorithm::kRS256, [](Jwk& j) { j.use = "enc"; }},
  };
  for (const HostileJwk& c : cases) {
    SCOPED_TRACE(c.name);
    Jwk jwk = KeyFor(c.base).public_key().ToJwk();
    ASSERT_THAT(PublicKey::FromJwk(jwk), IsOk()) << "the base key must import";
    c.mutate(jwk);
    absl::StatusOr<PublicKey> key = PublicKey::FromJwk(jwk);
    EXPECT_THAT(key, StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(KeyTest, JwkWithoutKidImportsForSingleKeyUse) {
  Jwk jwk = KeyFor(Algorithm::kEdDSA).public_key().ToJwk();
  jwk.kid.clear();
  jwk.use.clear();
  absl::StatusOr<PublicKey> key = PublicKey::FromJwk(jwk);
  ASSERT_THAT(key, IsOk());
  EXPECT_TRUE(key->kid().empty());
}

}  // namespace
}  // namespace sigil::token
