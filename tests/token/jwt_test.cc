#include "token/jwt.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/jws_forge.h"
#include "token/base64url.h"
#include "token/clock.h"
#include "token/json.h"
#include "token/key.h"
#include "token/key_set.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://sigil.example";
constexpr char kAudience[] = "system-a";
constexpr absl::Duration kLeeway = absl::Seconds(5);

Members Claims() {
  return {{"iss", Str(kIssuer)},
          {"sub", Str("user-1")},
          {"aud", Str(kAudience)},
          {"iat", Num(kNow - 10)},
          {"exp", Num(kNow + 300)},
          {"jti", Str("token-1")},
          {"sid", Str("session-1")},
          {"scope", Str("read write")},
          {"sigil_iat_us", Num((kNow - 10) * 1'000'000 + 123)}};
}

Members ClaimsWith(absl::string_view name, std::string raw) {
  return With(Claims(), name, std::move(raw));
}

// Claims issued at `iat`, with the instant claim agreeing.
Members ClaimsIssuedAt(int64_t iat) {
  return With(ClaimsWith("iat", Num(iat)), "sigil_iat_us",
              Num(iat * 1'000'000));
}

std::string ValidToken() { return Signed(EsHeader(), Claims()); }

std::vector<std::string> Split(absl::string_view token) {
  return absl::StrSplit(token, '.');
}

std::string ReplaceSegment(absl::string_view token, int index,
                           absl::string_view segment) {
  std::vector<std::string> parts = Split(token);
  parts[index] = std::string(segment);
  return absl::StrJoin(parts, ".");
}

std::string WithSignature(absl::string_view token,
                          absl::string_view signature) {
  return ReplaceSegment(token, 2, B64(signature));
}

std::string SignatureOf(absl::string_view token) {
  return *Base64UrlDecode(Split(token)[2]);
}

// The unsigned "header.payload." with an arbitrary alg: no key is needed
// because the verifier must stop at the header.
std::string UnsignedText(absl::string_view header, absl::string_view payload,
                         absl::string_view signature) {
  return absl::StrCat(B64(header), ".", B64(payload), ".", signature);
}

std::string NoneToken(absl::string_view alg) {
  return UnsignedText(Obj(With(EsHeader(), "alg", Str(alg))), Obj(Claims()),
                      "");
}

// Standard base64 ('+' and '/') where base64url has '-' and '_'.
std::string ToStandardAlphabet(absl::string_view segment) {
  return absl::StrReplaceAll(segment, {{"-", "+"}, {"_", "/"}});
}

bool HasUrlOnlyCharacters(absl::string_view segment) {
  return absl::StrContains(segment, "-") || absl::StrContains(segment, "_");
}

// Sets the lowest unused bit of the final character: a lenient decoder
// would read the same bytes from the changed text.
std::string WithNonZeroTrailingBits(absl::string_view segment) {
  constexpr absl::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  if (segment.size() % 4 == 0) std::abort();
  std::string out(segment);
  out.back() = kAlphabet[kAlphabet.find(out.back()) | 1];
  return out;
}

// Five '?' hold an aligned "???", which base64url spells with '_'.
constexpr char kUrlCharacterPad[] = "?????";

// JSON text padded with trailing whitespace until its base64url form ends
// in a partial group, which has unused bits.
std::string WithPartialFinalGroup(std::string json) {
  while (json.size() % 3 == 0) json += ' ';
  return json;
}

std::string HmacSha256(absl::string_view secret, absl::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(),
                secret.size(),
                reinterpret_cast<const unsigned char*>(data.data()),
                data.size(), mac, sizeof(mac), &len) == nullptr) {
    std::abort();
  }
  return std::string(reinterpret_cast<char*>(mac), len);
}

// RFC 8725 2.1's key confusion: an HS256 token MACed with public key bytes
// the attacker knows, for a verifier that would use the key as a secret.
std::string HmacToken(absl::string_view secret, const PrivateKey& victim) {
  const std::string input =
      absl::StrCat(B64(Obj(With(HeaderFor(victim), "alg", Str("HS256")))), ".",
                   B64(Obj(Claims())));
  return absl::StrCat(input, ".", B64(HmacSha256(secret, input)));
}

using UniquePkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

UniquePkey OpenSslKey(const PrivateKey& key) {
  const std::string pem = key.ToPem().value();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return UniquePkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
      EVP_PKEY_free);
}

std::string PublicKeyPem(const PrivateKey& key) {
  UniquePkey pkey = OpenSslKey(key);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (pkey == nullptr || PEM_write_bio_PUBKEY(out.get(), pkey.get()) != 1) {
    std::abort();
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, len);
}

std::string PublicKeyDer(const PrivateKey& key) {
  UniquePkey pkey = OpenSslKey(key);
  const int len = i2d_PUBKEY(pkey.get(), nullptr);
  if (len <= 0) std::abort();
  std::string der(len, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_PUBKEY(pkey.get(), &out);
  return der;
}

std::string RawEcX(const PrivateKey& key) {
  return *Base64UrlDecode(key.public_key().ToJwk().x);
}

// The DER form OpenSSL itself uses, which JWS does not allow.
std::string DerSignature(absl::string_view raw) {
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(),
                                                            ECDSA_SIG_free);
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  if (ECDSA_SIG_set0(sig.get(), r, s) != 1) std::abort();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  std::string der(len, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_ECDSA_SIG(sig.get(), &out);
  return der;
}

std::string P256Order() {
  return absl::HexStringToBytes(
      "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
}

// ES256 signs with a fresh nonce each time, so re-signing until the
// signature segment has a '-' or '_' always ends quickly.
std::string TokenWithUrlCharsInSignature() {
  for (int i = 0; i < 1000; ++i) {
    std::string token = ValidToken();
    if (HasUrlOnlyCharacters(Split(token)[2])) return token;
  }
  std::abort();
}

std::string FlipSignatureBit(absl::string_view token) {
  std::string signature = SignatureOf(token);
  signature[signature.size() / 2] ^= 0x04;
  return WithSignature(token, signature);
}

std::string Repeat(char c, size_t n) { return std::string(n, c); }

struct HostileCase {
  std::string name;
  std::function<std::string()> token;
  Reason want;
};

std::vector<HostileCase> HostileCases() {
  const int64_t kMaxSafe = (int64_t{1} << 53) - 1;
  return {
      // Tokens that must pass, so that the rejections below mean something.
      {"valid es256", [] { return ValidToken(); }, Reason::kValid},
      {"valid eddsa",
       [] { return Signed(HeaderFor(Keys().eddsa), Claims(), Keys().eddsa); },
       Reason::kValid},
      {"valid rs256",
       [] { return Signed(HeaderFor(Keys().rs256), Claims(), Keys().rs256); },
       Reason::kValid},
      {"extra claims are ignored",
       [] { return Signed(EsHeader(), ClaimsWith("role", Str("admin"))); },
       Reason::kValid},
      {"extra header members are ignored",
       [] { return Signed(With(EsHeader(), "cty", Str("x")), Claims()); },
       Reason::kValid},

      // The "alg" header: RFC 8725 2.1 and 3.1.
      {"alg none", [] { return NoneToken("none"); },
       Reason::kUnsupportedAlgorithm},
      {"alg None", [] { return NoneToken("None"); },
       Reason::kUnsupportedAlgorithm},
      {"alg NONE", [] { return NoneToken("NONE"); },
       Reason::kUnsupportedAlgorithm},
      {"alg nOnE", [] { return NoneToken("nOnE"); },
       Reason::kUnsupportedAlgorithm},
      {"alg none with a real signature",
       [] { return Signed(With(EsHeader(), "alg", Str("none")), Claims()); },
       Reason::kUnsupportedAlgorithm},
      {"alg HS256 keyed with the public key pem",
       [] { return HmacToken(PublicKeyPem(Keys().es256), Keys().es256); },
       Reason::kUnsupportedAlgorithm},
      {"alg HS256 keyed with the public key der",
       [] { return HmacToken(PublicKeyDer(Keys().es256), Keys().es256); },
       Reason::kUnsupportedAlgorithm},
      {"alg HS256 keyed with the public jwk json",
       [] {
         return HmacToken(JwkToJson(Keys().es256.public_key().ToJwk()),
                          Keys().es256);
       },
       Reason::kUnsupportedAlgorithm},
      {"alg HS256 keyed with the raw x coordinate",
       [] { return HmacToken(RawEcX(Keys().es256), Keys().es256); },
       Reason::kUnsupportedAlgorithm},
      {"alg HS256 keyed with the rsa public key pem",
       [] { return HmacToken(PublicKeyPem(Keys().rs256), Keys().rs256); },
       Reason::kUnsupportedAlgorithm},
      {"alg es256 in lower case",
       [] { return Signed(With(EsHeader(), "alg", Str("es256")), Claims()); },
       Reason::kUnsupportedAlgorithm},
      {"alg ES384",
       [] { return Signed(With(EsHeader(), "alg", Str("ES384")), Claims()); },
       Reason::kUnsupportedAlgorithm},
      {"alg PS256",
       [] {
         return Signed(With(HeaderFor(Keys().rs256), "alg", Str("PS256")),
                       Claims(), Keys().rs256);
       },
       Reason::kUnsupportedAlgorithm},
      {"alg with a trailing space",
       [] { return Signed(With(EsHeader(), "alg", Str("ES256 ")), Claims()); },
       Reason::kUnsupportedAlgorithm},
      {"alg missing",
       [] { return Signed(Without(EsHeader(), "alg"), Claims()); },
       Reason::kMalformed},
      {"alg a number",
       [] { return Signed(With(EsHeader(), "alg", "256"), Claims()); },
       Reason::kMalformed},
      {"alg null",
       [] { return Signed(With(EsHeader(), "alg", "null"), Claims()); },
       Reason::kMalformed},
      {"alg EdDSA on the es256 key",
       [] {
         return Signed(With(EsHeader(), "alg", Str("EdDSA")), Claims(),
                       Keys().eddsa);
       },
       Reason::kAlgorithmMismatch},
      {"alg RS256 on the es256 key",
       [] {
         return Signed(With(EsHeader(), "alg", Str("RS256")), Claims(),
                       Keys().rs256);
       },
       Reason::kAlgorithmMismatch},
      {"alg ES256 on the rs256 key",
       [] {
         return Signed(With(HeaderFor(Keys().rs256), "alg", Str("ES256")),
                       Claims(), Keys().es256);
       },
       Reason::kAlgorithmMismatch},

      // ES256 signature encodings.
      {"es256 r and s zero",
       [] { return WithSignature(ValidToken(), std::string(64, '\0')); },
       Reason::kBadSignature},
      {"es256 r and s equal to n",
       [] { return WithSignature(ValidToken(), P256Order() + P256Order()); },
       Reason::kBadSignature},
      {"es256 signature in der",
       [] {
         const std::string token = ValidToken();
         return WithSignature(token, DerSignature(SignatureOf(token)));
       },
       Reason::kBadSignature},

      // Signature bytes and their encoding.
      {"signature bit flipped", [] { return FlipSignatureBit(ValidToken()); },
       Reason::kBadSignature},
      {"eddsa signature bit flipped",
       [] {
         return FlipSignatureBit(
             Signed(HeaderFor(Keys().eddsa), Claims(), Keys().eddsa));
       },
       Reason::kBadSignature},
      {"rs256 signature bit flipped",
       [] {
         return FlipSignatureBit(
             Signed(HeaderFor(Keys().rs256), Claims(), Keys().rs256));
       },
       Reason::kBadSignature},
      {"signature truncated",
       [] {
         const std::string token = ValidToken();
         return WithSignature(token, SignatureOf(token).substr(1));
       },
       Reason::kBadSignature},
      {"rs256 signature truncated",
       [] {
         const std::string token =
             Signed(HeaderFor(Keys().rs256), Claims(), Keys().rs256);
         return WithSignature(token, SignatureOf(token).substr(1));
       },
       Reason::kBadSignature},
      {"signature extended",
       [] {
         const std::string token = ValidToken();
         return WithSignature(token, SignatureOf(token) + "A");
       },
       Reason::kBadSignature},
      {"signature empty", [] { return ReplaceSegment(ValidToken(), 2, ""); },
       Reason::kBadSignature},
      {"signature padded",
       [] {
         const std::string token = ValidToken();
         return ReplaceSegment(token, 2, Split(token)[2] + "==");
       },
       Reason::kBadSignature},
      {"signature in the standard alphabet",
       [] {
         const std::string token = TokenWithUrlCharsInSignature();
         return ReplaceSegment(token, 2, ToStandardAlphabet(Split(token)[2]));
       },
       Reason::kBadSignature},
      {"signature with non-zero trailing bits",
       [] {
         const std::string token = ValidToken();
         return ReplaceSegment(token, 2,
                               WithNonZeroTrailingBits(Split(token)[2]));
       },
       Reason::kBadSignature},
      {"signature not base64url",
       [] { return ReplaceSegment(ValidToken(), 2, "!!!!"); },
       Reason::kBadSignature},
      {"trailing newline lands in the signature",
       [] { return ValidToken() + "\n"; }, Reason::kBadSignature},
      {"signed by an attacker under the real kid",
       [] { return Signed(EsHeader(), Claims(), Keys().attacker); },
       Reason::kBadSignature},
      {"payload changed under the old signature",
       [] {
         const std::string token = ValidToken();
         return ReplaceSegment(token, 1,
                               B64(Obj(ClaimsWith("sub", Str("admin")))));
       },
       Reason::kBadSignature},
      {"header changed under the old signature",
       [] {
         const std::string token = ValidToken();
         return ReplaceSegment(
             token, 0, B64(Obj(With(EsHeader(), "typ", Str("AT+JWT")))));
       },
       Reason::kBadSignature},

      // Base64url of the header and payload.
      {"header not base64url",
       [] { return ReplaceSegment(ValidToken(), 0, "e30#"); },
       Reason::kMalformed},
      {"header padded",
       [] {
         const std::string token = ValidToken();
         return ReplaceSegment(token, 0, Split(token)[0] + "=");
       },
       Reason::kMalformed},
      {"header in the standard alphabet",
       [] {
         const std::string token =
             Signed(With(EsHeader(), "pad", Str(kUrlCharacterPad)), Claims());
         return ReplaceSegment(token, 0, ToStandardAlphabet(Split(token)[0]));
       },
       Reason::kMalformed},
      {"header with non-zero trailing bits",
       [] {
         const std::string token =
             SignedText(WithPartialFinalGroup(Obj(EsHeader())), Obj(Claims()),
                        Keys().es256);
         return ReplaceSegment(token, 0,
                               WithNonZeroTrailingBits(Split(token)[0]));
       },
       Reason::kMalformed},
      {"payload padded",
       [] {
         const std::string token = ValidToken();
         return ReplaceSegment(token, 1, Split(token)[1] + "=");
       },
       Reason::kMalformed},
      {"payload in the standard alphabet",
       [] {
         const std::string token =
             Signed(EsHeader(), ClaimsWith("pad", Str(kUrlCharacterPad)));
         return ReplaceSegment(token, 1, ToStandardAlphabet(Split(token)[1]));
       },
       Reason::kMalformed},
      {"payload with non-zero trailing bits",
       [] {
         const std::string token =
             SignedText(Obj(EsHeader()), WithPartialFinalGroup(Obj(Claims())),
                        Keys().es256);
         return ReplaceSegment(token, 1,
                               WithNonZeroTrailingBits(Split(token)[1]));
       },
       Reason::kMalformed},

      // Structure.
      {"empty token", [] { return std::string(); }, Reason::kMalformed},
      {"two dots only", [] { return std::string(".."); }, Reason::kMalformed},
      {"two segments",
       [] {
         const std::vector<std::string> parts = Split(ValidToken());
         return absl::StrCat(parts[0], ".", parts[1]);
       },
       Reason::kMalformed},
      {"four segments", [] { return ValidToken() + ".AAAA"; },
       Reason::kMalformed},
      {"five segments",
       [] {
         const std::vector<std::string> parts = Split(ValidToken());
         return absl::StrJoin(
             {parts[0], std::string(), parts[1], std::string("AAAA"), parts[2]},
             ".");
       },
       Reason::kMalformed},
      {"json serialization",
       [] {
         const std::vector<std::string> parts = Split(ValidToken());
         return Obj({{"payload", Str(parts[1])},
                     {"protected", Str(parts[0])},
                     {"signature", Str(parts[2])}});
       },
       Reason::kMalformed},
      {"space inside the payload",
       [] {
         std::string token = ValidToken();
         return token.insert(token.find('.') + 5, " ");
       },
       Reason::kMalformed},
      {"newline inside the header", [] { return ValidToken().insert(4, "\n"); },
       Reason::kMalformed},
      {"leading space", [] { return " " + ValidToken(); }, Reason::kMalformed},
      {"1 MiB token",
       [] {
         return absl::StrCat(Split(ValidToken())[0], ".", Repeat('A', 1 << 20),
                             ".AAAA");
       },
       Reason::kTokenTooLarge},
      {"100k dots", [] { return Repeat('.', 100'000); },
       Reason::kTokenTooLarge},
      {"1000 dots", [] { return Repeat('.', 1000); }, Reason::kMalformed},

      // The header as JSON.
      {"header an array",
       [] { return SignedText("[]", Obj(Claims()), Keys().es256); },
       Reason::kMalformed},
      {"header a string",
       [] { return SignedText("\"ES256\"", Obj(Claims()), Keys().es256); },
       Reason::kMalformed},
      {"header with a duplicate alg",
       [] {
         Members header = EsHeader();
         header.emplace_back("alg", Str("none"));
         return Signed(header, Claims());
       },
       Reason::kMalformed},
      {"header with a trailing comma",
       [] {
         std::string header = Obj(EsHeader());
         header.insert(header.size() - 1, ",");
         return SignedText(header, Obj(Claims()), Keys().es256);
       },
       Reason::kMalformed},

      // Headers that would let the token pick its key or its processing.
      {"jwk header with the attacker's key",
       [] {
         const Members header =
             With(HeaderFor(Keys().attacker), "jwk",
                  JwkToJson(Keys().attacker.public_key().ToJwk()));
         return Signed(header, Claims(), Keys().attacker);
       },
       Reason::kForbiddenHeader},
      {"jwk header under the real kid",
       [] {
         const Members header =
             With(EsHeader(), "jwk",
                  JwkToJson(Keys().attacker.public_key().ToJwk()));
         return Signed(header, Claims(), Keys().attacker);
       },
       Reason::kForbiddenHeader},
      {"jku header",
       [] {
         return Signed(With(HeaderFor(Keys().attacker), "jku",
                            Str("https://attacker.example/jwks.json")),
                       Claims(), Keys().attacker);
       },
       Reason::kForbiddenHeader},
      {"x5u header",
       [] {
         return Signed(With(HeaderFor(Keys().attacker), "x5u",
                            Str("https://attacker.example/cert.pem")),
                       Claims(), Keys().attacker);
       },
       Reason::kForbiddenHeader},
      {"x5c header",
       [] {
         return Signed(
             With(HeaderFor(Keys().attacker), "x5c",
                  absl::StrCat(
                      "[",
                      Str(absl::Base64Escape(PublicKeyDer(Keys().attacker))),
                      "]")),
             Claims(), Keys().attacker);
       },
       Reason::kForbiddenHeader},
      {"crit b64 with b64 false",
       [] {
         return Signed(
             With(With(EsHeader(), "b64", "false"), "crit", "[\"b64\"]"),
             Claims());
       },
       Reason::kForbiddenHeader},
      {"crit naming a claim",
       [] { return Signed(With(EsHeader(), "crit", "[\"exp\"]"), Claims()); },
       Reason::kForbiddenHeader},
      {"crit empty",
       [] { return Signed(With(EsHeader(), "crit", "[]"), Claims()); },
       Reason::kForbiddenHeader},
      {"b64 true alone",
       [] { return Signed(With(EsHeader(), "b64", "true"), Claims()); },
       Reason::kForbiddenHeader},

      // "typ": RFC 8725 3.11 and RFC 9068 2.1.
      {"typ missing",
       [] { return Signed(Without(EsHeader(), "typ"), Claims()); },
       Reason::kWrongTokenType},
      {"typ JWT",
       [] { return Signed(With(EsHeader(), "typ", Str("JWT")), Claims()); },
       Reason::kWrongTokenType},
      {"typ empty",
       [] { return Signed(With(EsHeader(), "typ", Str("")), Claims()); },
       Reason::kWrongTokenType},
      {"typ with a trailing space",
       [] { return Signed(With(EsHeader(), "typ", Str("at+jwt ")), Claims()); },
       Reason::kWrongTokenType},
      {"typ a number",
       [] { return Signed(With(EsHeader(), "typ", "1"), Claims()); },
       Reason::kMalformed},
      {"typ in upper case",
       [] { return Signed(With(EsHeader(), "typ", Str("AT+JWT")), Claims()); },
       Reason::kValid},
      {"typ as a full media type",
       [] {
         return Signed(With(EsHeader(), "typ", Str("Application/At+JWT")),
                       Claims());
       },
       Reason::kValid},

      // "kid": only ever a lookup key.
      {"kid missing",
       [] { return Signed(Without(EsHeader(), "kid"), Claims()); },
       Reason::kUnknownKey},
      {"kid unknown",
       [] {
         return Signed(With(EsHeader(), "kid", Str("no-such-key")), Claims());
       },
       Reason::kUnknownKey},
      {"kid empty",
       [] { return Signed(With(EsHeader(), "kid", Str("")), Claims()); },
       Reason::kUnknownKey},
      {"kid in another case",
       [] {
         return Signed(With(EsHeader(), "kid", Str("ES256-KEY")), Claims());
       },
       Reason::kUnknownKey},
      {"kid path traversal",
       [] {
         return Signed(With(EsHeader(), "kid", Str("../../etc/passwd")),
                       Claims());
       },
       Reason::kUnknownKey},
      {"kid sql injection",
       [] {
         return Signed(With(EsHeader(), "kid", Str("' OR 1=1 --")), Claims());
       },
       Reason::kUnknownKey},
      {"kid of 2 KB",
       [] {
         return Signed(With(EsHeader(), "kid", Str(Repeat('k', 2048))),
                       Claims());
       },
       Reason::kUnknownKey},
      {"kid of 5 KB exceeds the header limit",
       [] {
         return Signed(With(EsHeader(), "kid", Str(Repeat('k', 5 * 1024))),
                       Claims());
       },
       Reason::kMalformed},
      {"kid of 10 KB",
       [] {
         return Signed(With(EsHeader(), "kid", Str(Repeat('k', 10 * 1024))),
                       Claims());
       },
       Reason::kTokenTooLarge},
      {"kid with an escaped NUL",
       [] {
         return Signed(With(EsHeader(), "kid", "\"es256-key\\u0000\""),
                       Claims());
       },
       Reason::kMalformed},
      {"kid a number",
       [] { return Signed(With(EsHeader(), "kid", "1"), Claims()); },
       Reason::kMalformed},
      {"kid an object",
       [] {
         return Signed(With(EsHeader(), "kid", "{\"$ne\":null}"), Claims());
       },
       Reason::kMalformed},
      {"kid an array",
       [] {
         return Signed(With(EsHeader(), "kid", "[\"es256-key\"]"), Claims());
       },
       Reason::kMalformed},
      {"kid null",
       [] { return Signed(With(EsHeader(), "kid", "null"), Claims()); },
       Reason::kMalformed},

      // The claims as JSON.
      {"claims not json",
       [] { return SignedText(Obj(EsHeader()), "not json", Keys().es256); },
       Reason::kMalformed},
      {"claims empty",
       [] { return SignedText(Obj(EsHeader()), "", Keys().es256); },
       Reason::kMalformed},
      {"claims an array",
       [] { return SignedText(Obj(EsHeader()), "[]", Keys().es256); },
       Reason::kMalformed},
      {"claims with a duplicate exp",
       [] {
         Members claims = Claims();
         claims.emplace_back("exp", Num(kNow + 100000));
         return Signed(EsHeader(), claims);
       },
       Reason::kMalformed},
      {"claims with a duplicate iss",
       [] {
         Members claims = Claims();
         claims.emplace_back("iss", Str(kIssuer));
         return Signed(EsHeader(), claims);
       },
       Reason::kMalformed},
      {"claims nested too deep",
       [] { return Signed(EsHeader(), ClaimsWith("x", "[[[[[[[[1]]]]]]]]")); },
       Reason::kMalformed},

      // iss.
      {"iss wrong",
       [] {
         return Signed(EsHeader(),
                       ClaimsWith("iss", Str("https://evil.example")));
       },
       Reason::kWrongIssuer},
      {"iss with a trailing slash",
       [] {
         return Signed(EsHeader(),
                       ClaimsWith("iss", Str(absl::StrCat(kIssuer, "/"))));
       },
       Reason::kWrongIssuer},
      {"iss missing",
       [] { return Signed(EsHeader(), Without(Claims(), "iss")); },
       Reason::kMalformed},
      {"iss an array",
       [] {
         return Signed(EsHeader(),
                       ClaimsWith("iss", absl::StrCat("[", Str(kIssuer), "]")));
       },
       Reason::kMalformed},

      // sub, jti, sid.
      {"sub missing",
       [] { return Signed(EsHeader(), Without(Claims(), "sub")); },
       Reason::kMalformed},
      {"sub empty",
       [] { return Signed(EsHeader(), ClaimsWith("sub", Str(""))); },
       Reason::kMalformed},
      {"sub a number",
       [] { return Signed(EsHeader(), ClaimsWith("sub", "42")); },
       Reason::kMalformed},
      {"jti missing",
       [] { return Signed(EsHeader(), Without(Claims(), "jti")); },
       Reason::kMalformed},
      {"jti empty",
       [] { return Signed(EsHeader(), ClaimsWith("jti", Str(""))); },
       Reason::kMalformed},
      {"sid missing",
       [] { return Signed(EsHeader(), Without(Claims(), "sid")); },
       Reason::kMalformed},
      {"sid a number",
       [] { return Signed(EsHeader(), ClaimsWith("sid", "7")); },
       Reason::kMalformed},

      // aud.
      {"aud wrong",
       [] { return Signed(EsHeader(), ClaimsWith("aud", Str("system-b"))); },
       Reason::kWrongAudience},
      {"aud in another case",
       [] { return Signed(EsHeader(), ClaimsWith("aud", Str("SYSTEM-A"))); },
       Reason::kWrongAudience},
      {"aud array holding ours",
       [] {
         return Signed(EsHeader(),
                       ClaimsWith("aud", absl::StrCat("[", Str("system-b"), ",",
                                                      Str(kAudience), "]")));
       },
       Reason::kValid},
      {"aud array without ours",
       [] {
         return Signed(EsHeader(),
                       ClaimsWith("aud", absl::StrCat("[", Str("system-b"), ",",
                                                      Str("system-c"), "]")));
       },
       Reason::kWrongAudience},
      {"aud empty array",
       [] { return Signed(EsHeader(), ClaimsWith("aud", "[]")); },
       Reason::kMalformed},
      {"aud array holding a number",
       [] {
         return Signed(
             EsHeader(),
             ClaimsWith("aud", absl::StrCat("[", Str(kAudience), ",1]")));
       },
       Reason::kMalformed},
      {"aud nested array",
       [] {
         return Signed(
             EsHeader(),
             ClaimsWith("aud", absl::StrCat("[[", Str(kAudience), "]]")));
       },
       Reason::kMalformed},
      {"aud empty string",
       [] { return Signed(EsHeader(), ClaimsWith("aud", Str(""))); },
       Reason::kMalformed},
      {"aud missing",
       [] { return Signed(EsHeader(), Without(Claims(), "aud")); },
       Reason::kMalformed},

      // Time: exp has no leeway, iat and nbf have kLeeway.
      {"exp equal to now",
       [] { return Signed(EsHeader(), ClaimsWith("exp", Num(kNow))); },
       Reason::kExpired},
      {"exp one second ago",
       [] { return Signed(EsHeader(), ClaimsWith("exp", Num(kNow - 1))); },
       Reason::kExpired},
      {"exp one second ahead",
       [] { return Signed(EsHeader(), ClaimsWith("exp", Num(kNow + 1))); },
       Reason::kValid},
      {"iat at the leeway edge",
       [] { return Signed(EsHeader(), ClaimsIssuedAt(kNow + 5)); },
       Reason::kValid},
      {"iat beyond the leeway",
       [] { return Signed(EsHeader(), ClaimsIssuedAt(kNow + 6)); },
       Reason::kNotYetValid},
      {"nbf at the leeway edge",
       [] { return Signed(EsHeader(), ClaimsWith("nbf", Num(kNow + 5))); },
       Reason::kValid},
      {"nbf beyond the leeway",
       [] { return Signed(EsHeader(), ClaimsWith("nbf", Num(kNow + 6))); },
       Reason::kNotYetValid},

      // NumericDate: plain integers from 1970 to the end of year 9999.
      {"exp at 9999-12-31T23:59:59Z",
       [] { return Signed(EsHeader(), ClaimsWith("exp", "253402300799")); },
       Reason::kValid},
      {"exp at year 10000",
       [] { return Signed(EsHeader(), ClaimsWith("exp", "253402300800")); },
       Reason::kMalformed},
      {"exp at 2^53",
       [] { return Signed(EsHeader(), ClaimsWith("exp", Num(kMaxSafe + 1))); },
       Reason::kMalformed},
      {"exp at 2^63",
       [] {
         return Signed(EsHeader(), ClaimsWith("exp", "9223372036854775808"));
       },
       Reason::kMalformed},
      {"exp at int64 max",
       [] {
         return Signed(EsHeader(), ClaimsWith("exp", "9223372036854775807"));
       },
       Reason::kMalformed},
      {"exp fractional",
       [] { return Signed(EsHeader(), ClaimsWith("exp", "1700000300.5")); },
       Reason::kMalformed},
      {"exp with a zero fraction",
       [] { return Signed(EsHeader(), ClaimsWith("exp", "1700000300.0")); },
       Reason::kMalformed},
      {"exp with an exponent",
       [] { return Signed(EsHeader(), ClaimsWith("exp", "1.7000003e9")); },
       Reason::kMalformed},
      {"exp 1e309",
       [] { return Signed(EsHeader(), ClaimsWith("exp", "1e309")); },
       Reason::kMalformed},
      {"exp negative",
       [] { return Signed(EsHeader(), ClaimsWith("exp", "-1")); },
       Reason::kMalformed},
      {"exp a string",
       [] {
         return Signed(EsHeader(), ClaimsWith("exp", Str(Num(kNow + 300))));
       },
       Reason::kMalformed},
      {"exp with a leading zero",
       [] {
         return Signed(EsHeader(), ClaimsWith("exp", "0" + Num(kNow + 300)));
       },
       Reason::kMalformed},
      {"exp true", [] { return Signed(EsHeader(), ClaimsWith("exp", "true")); },
       Reason::kMalformed},
      {"exp null", [] { return Signed(EsHeader(), ClaimsWith("exp", "null")); },
       Reason::kMalformed},
      {"exp missing",
       [] { return Signed(EsHeader(), Without(Claims(), "exp")); },
       Reason::kMalformed},
      {"iat fractional",
       [] { return Signed(EsHeader(), ClaimsWith("iat", "1699999990.5")); },
       Reason::kMalformed},
      {"iat negative",
       [] { return Signed(EsHeader(), ClaimsWith("iat", "-10")); },
       Reason::kMalformed},
      {"iat missing",
       [] { return Signed(EsHeader(), Without(Claims(), "iat")); },
       Reason::kMalformed},
      {"nbf a string",
       [] { return Signed(EsHeader(), ClaimsWith("nbf", Str(Num(kNow)))); },
       Reason::kMalformed},

      // scope and sigil_iat_us.
      {"scope missing",
       [] { return Signed(EsHeader(), Without(Claims(), "scope")); },
       Reason::kValid},
      {"scope a number",
       [] { return Signed(EsHeader(), ClaimsWith("scope", "1")); },
       Reason::kMalformed},
      {"scope an array",
       [] { return Signed(EsHeader(), ClaimsWith("scope", "[\"read\"]")); },
       Reason::kMalformed},
      {"scope with a double space",
       [] {
         return Signed(EsHeader(), ClaimsWith("scope", Str("read  write")));
       },
       Reason::kMalformed},
      {"sigil_iat_us missing",
       [] { return Signed(EsHeader(), Without(Claims(), "sigil_iat_us")); },
       Reason::kValid},
      {"sigil_iat_us negative",
       [] { return Signed(EsHeader(), ClaimsWith("sigil_iat_us", "-1")); },
       Reason::kMalformed},
      {"sigil_iat_us fractional",
       [] { return Signed(EsHeader(), ClaimsWith("sigil_iat_us", "1.5")); },
       Reason::kMalformed},
      // A leaked key must not mint tokens that dodge logout.
      {"sigil_iat_us ten years after iat",
       [] {
         return Signed(
             EsHeader(),
             ClaimsWith("sigil_iat_us", Num((kNow + 315'360'000) * 1'000'000)));
       },
       Reason::kMalformed},
      {"sigil_iat_us three minutes after iat",
       [] {
         return Signed(EsHeader(), ClaimsWith("sigil_iat_us",
                                              Num((kNow + 170) * 1'000'000)));
       },
       Reason::kMalformed},
      {"sigil_iat_us a minute after iat (the authority's tick lead)",
       [] {
         return Signed(EsHeader(), ClaimsWith("sigil_iat_us",
                                              Num((kNow + 50) * 1'000'000)));
       },
       Reason::kValid},
      {"sigil_iat_us within the second before iat",
       [] {
         return Signed(
             EsHeader(),
             ClaimsWith("sigil_iat_us", Num((kNow - 11) * 1'000'000 + 1)));
       },
       Reason::kValid},
      {"sigil_iat_us over a second before iat",
       [] {
         return Signed(EsHeader(), ClaimsWith("sigil_iat_us",
                                              Num((kNow - 12) * 1'000'000)));
       },
       Reason::kMalformed},

      // Order: a bad signature outranks every claim problem.
      {"expired and badly signed",
       [] {
         return FlipSignatureBit(
             Signed(EsHeader(), ClaimsWith("exp", Num(kNow - 100))));
       },
       Reason::kBadSignature},
      {"expired and signed by an attacker",
       [] {
         return Signed(EsHeader(), ClaimsWith("exp", Num(kNow - 100)),
                       Keys().attacker);
       },
       Reason::kBadSignature},
      {"malformed claims and badly signed",
       [] {
         return FlipSignatureBit(Signed(EsHeader(), ClaimsWith("exp", "1.5")));
       },
       Reason::kBadSignature},
      {"wrong issuer and badly signed",
       [] {
         return FlipSignatureBit(
             Signed(EsHeader(), ClaimsWith("iss", Str("x"))));
       },
       Reason::kBadSignature},
      {"expired with an unknown kid",
       [] {
         return Signed(With(EsHeader(), "kid", Str("gone")),
                       ClaimsWith("exp", Num(kNow - 100)));
       },
       Reason::kUnknownKey},
      {"wrong issuer and wrong audience",
       [] {
         return Signed(EsHeader(), With(ClaimsWith("iss", Str("x")), "aud",
                                        Str("system-b")));
       },
       Reason::kWrongIssuer},
      {"expired and wrong audience",
       [] {
         return Signed(EsHeader(), With(ClaimsWith("exp", Num(kNow - 1)), "aud",
                                        Str("system-b")));
       },
       Reason::kExpired},
  };
}

JwtVerifierOptions Options(const Clock* clock) {
  JwtVerifierOptions options;
  options.issuer = kIssuer;
  options.clock = clock;
  options.leeway = kLeeway;
  // The lifetime bound has its own test; here exp ranges over every date
  // the parser takes.
  options.max_lifetime = absl::InfiniteDuration();
  return options;
}

// gtest prints the parameter of a failed test: the case's name, rather
// than the bytes of its std::function.
void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }

// The case's name as a test name, which takes only letters, digits and
// underscores: each run of anything else becomes one underscore, so "alg
// HS256 keyed with the public key pem" runs as
// Jwt/HostileTokenTest.GetsItsVerdict/alg_HS256_keyed_with_the_public_key_pem.
std::string TestNameOf(const ::testing::TestParamInfo<HostileCase>& info) {
  std::string name;
  bool separate = false;
  for (const char c : info.param.name) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      if (separate && !name.empty()) name.push_back('_');
      name.push_back(c);
      separate = false;
    } else {
      separate = true;
    }
  }
  return name;
}

// One test per hostile case, so that a failure names its case.
class HostileTokenTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileTokenTest, GetsItsVerdict) {
  const HostileCase& c = GetParam();
  FakeClock clock(absl::FromUnixSeconds(kNow));
  const JwtVerifier verifier(Options(&clock));
  const std::string token = c.token();
  absl::StatusOr<VerifiedJwt> verified =
      verifier.Verify(token, Keys().set, kAudience);
  EXPECT_EQ(ReasonName(ReasonOf(verified.status())), ReasonName(c.want))
      << verified.status();
  if (c.want != Reason::kValid) {
    EXPECT_THAT(verified, StatusIs(absl::StatusCode::kUnauthenticated));
  }
}

INSTANTIATE_TEST_SUITE_P(Jwt, HostileTokenTest,
                         ::testing::ValuesIn(HostileCases()), TestNameOf);

JwtClaims SampleClaims() {
  JwtClaims claims;
  claims.issuer = kIssuer;
  claims.subject = "user-1";
  claims.audience = {kAudience};
  claims.issued_at = absl::FromUnixSeconds(kNow - 10);
  claims.expires_at = absl::FromUnixSeconds(kNow + 300);
  claims.token_id = "token-1";
  claims.session_id = "session-1";
  claims.scopes = {"read", "write"};
  claims.issued_at_us = (kNow - 10) * 1'000'000 + 456;
  return claims;
}

class JwtAlgorithmTest : public ::testing::TestWithParam<Algorithm> {};

INSTANTIATE_TEST_SUITE_P(All, JwtAlgorithmTest,
                         ::testing::Values(Algorithm::kES256, Algorithm::kEdDSA,
                                           Algorithm::kRS256),
                         [](const ::testing::TestParamInfo<Algorithm>& info) {
                           return std::string(AlgorithmName(info.param));
                         });

const PrivateKey& KeyFor(Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256:
      return Keys().es256;
    case Algorithm::kEdDSA:
      return Keys().eddsa;
    case Algorithm::kRS256:
      return Keys().rs256;
  }
  std::abort();
}

TEST_P(JwtAlgorithmTest, SignThenVerifyRoundTrip) {
  const JwtSigner signer(KeyFor(GetParam()));
  JwtClaims claims = SampleClaims();
  claims.audience = {"system-b", kAudience};
  absl::StatusOr<std::string> token = signer.Sign(claims);
  ASSERT_THAT(token, IsOk());

  FakeClock clock(absl::FromUnixSeconds(kNow));
  absl::StatusOr<VerifiedJwt> verified =
      JwtVerifier(Options(&clock)).Verify(*token, Keys().set, kAudience);
  ASSERT_THAT(verified, IsOk());
  const JwtClaims& got = verified->claims();
  EXPECT_EQ(verified->kid(), KeyFor(GetParam()).kid());
  EXPECT_EQ(got.issuer, claims.issuer);
  EXPECT_EQ(got.subject, claims.subject);
  EXPECT_EQ(got.audience, claims.audience);
  EXPECT_EQ(got.issued_at, claims.issued_at);
  EXPECT_EQ(got.expires_at, claims.expires_at);
  EXPECT_EQ(got.token_id, claims.token_id);
  EXPECT_EQ(got.session_id, claims.session_id);
  EXPECT_EQ(got.scopes, claims.scopes);
  EXPECT_EQ(got.issued_at_us, claims.issued_at_us);
  EXPECT_TRUE(verified->HasScope("read"));
  EXPECT_TRUE(verified->HasScope("write"));
  EXPECT_FALSE(verified->HasScope("admin"));
  EXPECT_FALSE(verified->HasScope("rea"));
}

TEST(JwtTest, SignerWritesTheRfc9068Shape) {
  const JwtSigner signer(Keys().es256);
  absl::StatusOr<std::string> token = signer.Sign(SampleClaims());
  ASSERT_THAT(token, IsOk());
  const std::vector<std::string> parts = Split(*token);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(*Base64UrlDecode(parts[0]),
            R"({"alg":"ES256","kid":"es256-key","typ":"at+jwt"})");
  EXPECT_EQ(*Base64UrlDecode(parts[1]),
            absl::StrCat(R"({"iss":"https://sigil.example","sub":"user-1",)",
                         R"("aud":"system-a","iat":)", kNow - 10, R"(,"exp":)",
                         kNow + 300, R"(,"jti":"token-1","sid":"session-1",)",
                         R"("scope":"read write","sigil_iat_us":)",
                         (kNow - 10) * 1'000'000 + 456, "}"));
  EXPECT_EQ(SignatureOf(*token).size(), 64u);
}

TEST(JwtTest, SignerWritesAudienceArrayAndOmitsEmptyOptionals) {
  const JwtSigner signer(Keys().es256);
  JwtClaims claims = SampleClaims();
  claims.audience = {"system-a", "system-b"};
  claims.scopes.clear();
  claims.issued_at_us = 0;
  absl::StatusOr<std::string> token = signer.Sign(claims);
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<JsonValue> payload =
      ParseJson(*Base64UrlDecode(Split(*token)[1]));
  ASSERT_THAT(payload, IsOk());
  ASSERT_NE(payload->Find("aud"), nullptr);
  ASSERT_TRUE(payload->Find("aud")->is_array());
  EXPECT_EQ(payload->Find("aud")->items().size(), 2u);
  EXPECT_EQ(payload->Find("scope"), nullptr);
  EXPECT_EQ(payload->Find("sigil_iat_us"), nullptr);

  FakeClock clock(absl::FromUnixSeconds(kNow));
  absl::StatusOr<VerifiedJwt> verified =
      JwtVerifier(Options(&clock)).Verify(*token, Keys().set, "system-b");
  ASSERT_THAT(verified, IsOk());
  EXPECT_TRUE(verified->claims().scopes.empty());
  EXPECT_EQ(verified->claims().issued_at_us, (kNow - 10) * 1'000'000);
}

TEST(JwtTest, SignerRefusesIncompleteClaims) {
  struct Case {
    const char* name;
    std::function<void(JwtClaims&)> mutate;
  };
  const Case cases[] = {
      {"no issuer", [](JwtClaims& c) { c.issuer.clear(); }},
      {"no subject", [](JwtClaims& c) { c.subject.clear(); }},
      {"no audience", [](JwtClaims& c) { c.audience.clear(); }},
      {"an empty audience", [](JwtClaims& c) { c.audience.push_back(""); }},
      {"no token id", [](JwtClaims& c) { c.token_id.clear(); }},
      {"no session id", [](JwtClaims& c) { c.session_id.clear(); }},
      {"an empty scope", [](JwtClaims& c) { c.scopes.push_back(""); }},
      {"a scope with a space", [](JwtClaims& c) { c.scopes.push_back("a b"); }},
      {"exp equal to iat", [](JwtClaims& c) { c.expires_at = c.issued_at; }},
      {"exp before iat",
       [](JwtClaims& c) { c.expires_at = c.issued_at - absl::Seconds(1); }},
      {"iat before 1970",
       [](JwtClaims& c) { c.issued_at = absl::FromUnixSeconds(-1); }},
      {"exp beyond 2^53 seconds",
       [](JwtClaims& c) {
         c.expires_at = absl::FromUnixSeconds(int64_t{1} << 53);
       }},
      {"negative sigil_iat_us", [](JwtClaims& c) { c.issued_at_us = -1; }},
  };
  const JwtSigner signer(Keys().es256);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    JwtClaims claims = SampleClaims();
    c.mutate(claims);
    EXPECT_THAT(signer.Sign(claims),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(JwtTest, MalformedClaimMessagesNameTheClaim) {
  FakeClock clock(absl::FromUnixSeconds(kNow));
  const JwtVerifier verifier(Options(&clock));
  for (absl::string_view claim : {"iss", "sub", "aud", "iat", "exp", "nbf",
                                  "jti", "sid", "scope", "sigil_iat_us"}) {
    SCOPED_TRACE(claim);
    const std::string token = Signed(EsHeader(), ClaimsWith(claim, "{}"));
    absl::Status status =
        verifier.Verify(token, Keys().set, kAudience).status();
    EXPECT_EQ(ReasonOf(status), Reason::kMalformed) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), claim)) << status;
  }
}

TEST(JwtTest, VerifyIgnoringAudienceSkipsOnlyTheAudience) {
  FakeClock clock(absl::FromUnixSeconds(kNow));
  const JwtVerifier verifier(Options(&clock));
  const std::string other_system =
      Signed(EsHeader(), ClaimsWith("aud", Str("system-b")));
  EXPECT_EQ(
      ReasonOf(verifier.Verify(other_system, Keys().set, kAudience).status()),
      Reason::kWrongAudience);
  absl::StatusOr<VerifiedJwt> verified =
      verifier.VerifyIgnoringAudience(other_system, Keys().set);
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->claims().audience, std::vector<std::string>{"system-b"});

  const std::string expired = Signed(
      EsHeader(), With(ClaimsWith("aud", Str("system-b")), "exp", Num(kNow)));
  EXPECT_EQ(
      ReasonOf(verifier.VerifyIgnoringAudience(expired, Keys().set).status()),
      Reason::kExpired);
  EXPECT_EQ(ReasonOf(verifier
                         .VerifyIgnoringAudience(FlipSignatureBit(other_system),
                                                 Keys().set)
                         .status()),
            Reason::kBadSignature);
  EXPECT_EQ(ReasonOf(verifier
                         .VerifyIgnoringAudience(
                             Signed(EsHeader(), ClaimsWith("iss", Str("x"))),
                             Keys().set)
                         .status()),
            Reason::kWrongIssuer);
}

// Found by jwt_fuzzer: the audience was matched before the instant, so a
// token for another system with a forged instant was WRONG_AUDIENCE to
// Verify and MALFORMED to VerifyIgnoringAudience.
TEST(JwtTest, AudienceIsMatchedAfterEveryOtherCheck) {
  FakeClock clock(absl::FromUnixSeconds(kNow));
  const JwtVerifier verifier(Options(&clock));
  const std::string forged_instant =
      Signed(EsHeader(),
             With(ClaimsWith("sigil_iat_us", Num((kNow + 1000) * 1'000'000)),
                  "aud", Str("system-b")));
  EXPECT_EQ(
      ReasonOf(verifier.Verify(forged_instant, Keys().set, kAudience).status()),
      Reason::kMalformed);
  EXPECT_EQ(
      ReasonOf(
          verifier.VerifyIgnoringAudience(forged_instant, Keys().set).status()),
      Reason::kMalformed);
}

TEST(JwtTest, ExpiryFollowsTheClock) {
  FakeClock clock(absl::FromUnixSeconds(kNow));
  const JwtVerifier verifier(Options(&clock));
  const std::string token = ValidToken();
  EXPECT_THAT(verifier.Verify(token, Keys().set, kAudience), IsOk());
  clock.Set(absl::FromUnixSeconds(kNow + 300) - absl::Nanoseconds(1));
  EXPECT_THAT(verifier.Verify(token, Keys().set, kAudience), IsOk());
  clock.Advance(absl::Nanoseconds(1));
  EXPECT_EQ(ReasonOf(verifier.Verify(token, Keys().set, kAudience).status()),
            Reason::kExpired);
}

TEST(JwtTest, LeewayNeverExtendsExpiry) {
  FakeClock clock(absl::FromUnixSeconds(kNow));
  JwtVerifierOptions options = Options(&clock);
  options.leeway = absl::Hours(1);
  const JwtVerifier verifier(options);
  EXPECT_EQ(
      ReasonOf(verifier
                   .Verify(Signed(EsHeader(), ClaimsWith("exp", Num(kNow))),
                           Keys().set, kAudience)
                   .status()),
      Reason::kExpired);
  EXPECT_THAT(verifier.Verify(Signed(EsHeader(), ClaimsIssuedAt(kNow + 3000)),
                              Keys().set, kAudience),
              IsOk());
}

TEST(JwtTest, ALifetimeBeyondTheIssuersIsMalformed) {
  FakeClock clock(absl::FromUnixSeconds(kNow));
  JwtVerifierOptions options = Options(&clock);
  options.max_lifetime = absl::Hours(24);
  const JwtVerifier verifier(options);
  struct Case {
    int64_t lifetime_seconds;
    Reason want;
  };
  for (const Case& c : {Case{300, Reason::kValid}, Case{86'400, Reason::kValid},
                        Case{86'401, Reason::kValid},  // whole-second rounding
                        Case{86'402, Reason::kMalformed},
                        Case{315'360'000, Reason::kMalformed}}) {
    SCOPED_TRACE(absl::StrCat("exp - iat = ", c.lifetime_seconds, " s"));
    const std::string token = Signed(
        EsHeader(), ClaimsWith("exp", Num(kNow - 10 + c.lifetime_seconds)));
    EXPECT_EQ(ReasonOf(verifier.Verify(token, Keys().set, kAudience).status()),
              c.want);
  }
}

TEST(JwtTest, SizeCapIsExact) {
  FakeClock clock(absl::FromUnixSeconds(kNow));
  const std::string token = ValidToken();
  JwtVerifierOptions options = Options(&clock);
  options.max_token_bytes = token.size();
  EXPECT_THAT(JwtVerifier(options).Verify(token, Keys().set, kAudience),
              IsOk());
  options.max_token_bytes = token.size() - 1;
  EXPECT_EQ(
      ReasonOf(
          JwtVerifier(options).Verify(token, Keys().set, kAudience).status()),
      Reason::kTokenTooLarge);
}

TEST(JwtTest, RealClockIsTheDefault) {
  JwtVerifierOptions options;
  options.issuer = kIssuer;
  const JwtVerifier verifier(options);
  JwtClaims claims = SampleClaims();
  claims.issued_at = absl::Now();
  claims.issued_at_us = absl::ToUnixMicros(claims.issued_at);
  claims.expires_at = claims.issued_at + absl::Minutes(5);
  absl::StatusOr<std::string> token = JwtSigner(Keys().es256).Sign(claims);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(verifier.Verify(*token, Keys().set, kAudience), IsOk());
  EXPECT_EQ(
      ReasonOf(verifier.Verify(ValidToken(), Keys().set, kAudience).status()),
      Reason::kExpired)
      << "tokens made for the fake clock's 2023 are long expired";
}

}  // namespace
}  // namespace sigil::token
