// RFC 8725 hardening of JwtVerifier, one table per concern. Every row is a
// hostile or edge token built here: real tokens signed with throwaway keys,
// then tampered with. jwt_test.cc's HostileTokens already holds the first
// rows of most concerns; the tables below add what it lacks and say so where
// a concern's obvious rows live there.

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/jws_forge.h"
#include "token/base64url.h"
#include "token/clock.h"
#include "token/json.h"
#include "token/jwt.h"
#include "token/key.h"
#include "token/key_set.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

using ::sigil::testing::StatusIs;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://sigil.example";
constexpr char kAudience[] = "system-a";
constexpr absl::Duration kLeeway = absl::Seconds(5);
constexpr size_t kDefaultMaxTokenBytes = 8 * 1024;

Members Claims() {
  return {{"iss", Str(kIssuer)},     {"sub", Str("user-1")},
          {"aud", Str(kAudience)},   {"iat", Num(kNow - 10)},
          {"exp", Num(kNow + 300)},  {"jti", Str("token-1")},
          {"sid", Str("session-1")}, {"scope", Str("read write")}};
}

Members ClaimsWith(absl::string_view name, std::string raw) {
  return With(Claims(), name, std::move(raw));
}

std::string SignedClaims(const Members& claims) {
  return Signed(EsHeader(), claims);
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

std::string FlipSignatureBit(absl::string_view token) {
  std::string signature = *Base64UrlDecode(Split(token)[2]);
  signature[signature.size() / 2] ^= 0x04;
  return ReplaceSegment(token, 2, B64(signature));
}

std::string Repeat(absl::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}

// Appends 'A's until the length is 1 mod 4, which no base64url text has.
std::string WithImpossibleLength(std::string segment) {
  do {
    segment.push_back('A');
  } while (segment.size() % 4 != 1);
  return segment;
}

std::string Nested(size_t depth, absl::string_view inner) {
  return absl::StrCat(Repeat("[", depth), inner, Repeat("]", depth));
}

std::string Hmac(const char* digest, absl::string_view secret,
                 absl::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, secret.data(),
                secret.size(),
                reinterpret_cast<const unsigned char*>(data.data()),
                data.size(), mac, sizeof(mac), &len) == nullptr) {
    std::abort();
  }
  return std::string(reinterpret_cast<char*>(mac), len);
}

// RFC 8725 2.1's key confusion: a MAC keyed with public key bytes the
// attacker knows, for a verifier that would use the key as a secret.
std::string HmacToken(absl::string_view alg, const char* digest,
                      absl::string_view secret, const PrivateKey& victim) {
  const std::string input =
      absl::StrCat(B64(Obj(With(HeaderFor(victim), "alg", Str(alg)))), ".",
                   B64(Obj(Claims())));
  return absl::StrCat(input, ".", B64(Hmac(digest, secret, input)));
}

std::string PublicKeyPem(const PrivateKey& key) {
  const std::string pem = key.ToPem().value();
  std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr),
      EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (pkey == nullptr || PEM_write_bio_PUBKEY(out.get(), pkey.get()) != 1) {
    std::abort();
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, len);
}

JwtVerifierOptions Options(const Clock* clock,
                           size_t max_token_bytes = kDefaultMaxTokenBytes) {
  JwtVerifierOptions options;
  options.issuer = kIssuer;
  options.clock = clock;
  options.leeway = kLeeway;
  options.max_token_bytes = max_token_bytes;
  // Dates range over every value the parser takes (iat 0 among them); the
  // lifetime bound has its own tests in jwt_test.cc.
  options.max_lifetime = absl::InfiniteDuration();
  return options;
}

struct Row {
  std::string name;
  std::string token;
  Reason want;
};

// Verifies every row at kNow for kAudience. A hostile token is a verdict:
// UNAUTHENTICATED with the row's reason, never a crash or another code.
void ExpectVerdicts(const std::vector<Row>& rows,
                    size_t max_token_bytes = kDefaultMaxTokenBytes) {
  FakeClock clock(absl::FromUnixSeconds(kNow));
  const JwtVerifier verifier(Options(&clock, max_token_bytes));
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    const absl::Status status =
        verifier.Verify(row.token, Keys().set, kAudience).status();
    EXPECT_EQ(std::string(ReasonName(ReasonOf(status))),
              std::string(ReasonName(row.want)))
        << status;
    EXPECT_THAT(status, StatusIs(CodeOf(row.want)));
  }
}

// RFC 8725 2.1 and 3.1. jwt_test.cc has alg none in four spellings, HS256
// keyed with the ES256 and RS256 public keys, "es256", ES384, PS256, a
// missing or non-string alg, and EdDSA/RS256 on the ES256 key.
TEST(HardeningTest, AlgorithmAllowListPerKey) {
  const TestKeys& k = Keys();
  const std::string eddsa_x = *Base64UrlDecode(k.eddsa.public_key().ToJwk().x);
  const std::vector<Row> rows = {
      {"alg Es256", Signed(With(EsHeader(), "alg", Str("Es256")), Claims()),
       Reason::kUnsupportedAlgorithm},
      {"alg eS256", Signed(With(EsHeader(), "alg", Str("eS256")), Claims()),
       Reason::kUnsupportedAlgorithm},
      {"alg EDDSA",
       Signed(With(HeaderFor(k.eddsa), "alg", Str("EDDSA")), Claims(), k.eddsa),
       Reason::kUnsupportedAlgorithm},
      {"alg eddsa",
       Signed(With(HeaderFor(k.eddsa), "alg", Str("eddsa")), Claims(), k.eddsa),
       Reason::kUnsupportedAlgorithm},
      {"alg Ed25519 (a name Sigil does not use)",
       Signed(With(HeaderFor(k.eddsa), "alg", Str("Ed25519")), Claims(),
              k.eddsa),
       Reason::kUnsupportedAlgorithm},
      {"alg rs256",
       Signed(With(HeaderFor(k.rs256), "alg", Str("rs256")), Claims(), k.rs256),
       Reason::kUnsupportedAlgorithm},
      {"alg ES256K", Signed(With(EsHeader(), "alg", Str("ES256K")), Claims()),
       Reason::kUnsupportedAlgorithm},
      {"alg empty", Signed(With(EsHeader(), "alg", Str("")), Claims()),
       Reason::kUnsupportedAlgorithm},
      {"alg with a leading space",
       Signed(With(EsHeader(), "alg", Str(" ES256")), Claims()),
       Reason::kUnsupportedAlgorithm},
      {"alg none without kid or signature",
       absl::StrCat(B64(Obj({{"alg", Str("none")}, {"typ", Str("at+jwt")}})),
                    ".", B64(Obj(Claims())), "."),
       Reason::kUnsupportedAlgorithm},
      {"alg an array holding ES256",
       Signed(With(EsHeader(), "alg", "[\"ES256\"]"), Claims()),
       Reason::kMalformed},
      {"alg ES256 spelled with an escape is ES256",
       Signed(With(EsHeader(), "alg", "\"\\u0045S256\""), Claims()),
       Reason::kValid},
      {"alg HS256 keyed with the eddsa public key",
       HmacToken("HS256", "SHA256", eddsa_x, k.eddsa),
       Reason::kUnsupportedAlgorithm},
      {"alg HS384 keyed with the es256 public key pem",
       HmacToken("HS384", "SHA384", PublicKeyPem(k.es256), k.es256),
       Reason::kUnsupportedAlgorithm},
      {"alg HS512 keyed with the rs256 public key pem",
       HmacToken("HS512", "SHA512", PublicKeyPem(k.rs256), k.rs256),
       Reason::kUnsupportedAlgorithm},
      {"alg HS256 keyed with the empty string",
       HmacToken("HS256", "SHA256", "", k.es256),
       Reason::kUnsupportedAlgorithm},
      // Each key verifies only under its own algorithm, whoever signed.
      {"alg ES256 on the eddsa key",
       Signed(With(HeaderFor(k.eddsa), "alg", Str("ES256")), Claims(), k.es256),
       Reason::kAlgorithmMismatch},
      {"alg RS256 on the eddsa key",
       Signed(With(HeaderFor(k.eddsa), "alg", Str("RS256")), Claims(), k.rs256),
       Reason::kAlgorithmMismatch},
      {"alg EdDSA on the rs256 key",
       Signed(With(HeaderFor(k.rs256), "alg", Str("EdDSA")), Claims(), k.eddsa),
       Reason::kAlgorithmMismatch},
      {"alg ES256 on the es256 key, signed by the eddsa key",
       Signed(EsHeader(), Claims(), k.eddsa), Reason::kBadSignature},
  };
  ExpectVerdicts(rows);
}

// RFC 8725 3.11 and RFC 9068 2.1: only "at+jwt" (or its media type), up to
// ASCII case. jwt_test.cc has missing, "JWT", empty, a trailing space, a
// number, upper case and "Application/At+JWT".
TEST(HardeningTest, TokenType) {
  const std::vector<Row> rows = {
      {"typ at+JWT", Signed(With(EsHeader(), "typ", Str("at+JWT")), Claims()),
       Reason::kValid},
      {"typ APPLICATION/AT+JWT",
       Signed(With(EsHeader(), "typ", Str("APPLICATION/AT+JWT")), Claims()),
       Reason::kValid},
      {"typ jwt", Signed(With(EsHeader(), "typ", Str("jwt")), Claims()),
       Reason::kWrongTokenType},
      {"typ application/jwt",
       Signed(With(EsHeader(), "typ", Str("application/jwt")), Claims()),
       Reason::kWrongTokenType},
      {"typ of another JWT kind (secevent+jwt)",
       Signed(With(EsHeader(), "typ", Str("secevent+jwt")), Claims()),
       Reason::kWrongTokenType},
      {"typ with media type parameters",
       Signed(With(EsHeader(), "typ", Str("application/at+jwt; charset=utf-8")),
              Claims()),
       Reason::kWrongTokenType},
      {"typ media type with a doubled prefix",
       Signed(With(EsHeader(), "typ", Str("application/application/at+jwt")),
              Claims()),
       Reason::kWrongTokenType},
      {"typ with a leading space",
       Signed(With(EsHeader(), "typ", Str(" at+jwt")), Claims()),
       Reason::kWrongTokenType},
      {"typ at jwt with a space for the plus",
       Signed(With(EsHeader(), "typ", Str("at jwt")), Claims()),
       Reason::kWrongTokenType},
      {"typ with a fullwidth plus",
       Signed(With(EsHeader(), "typ", Str("at\xef\xbc\x8bjwt")), Claims()),
       Reason::kWrongTokenType},
      {"typ with a dotless i (case folding is ASCII only)",
       Signed(With(EsHeader(), "typ",
                   Str("appl\xc4\xb1"
                       "cation/at+jwt")),
              Claims()),
       Reason::kWrongTokenType},
      {"typ null", Signed(With(EsHeader(), "typ", "null"), Claims()),
       Reason::kMalformed},
      {"typ an array",
       Signed(With(EsHeader(), "typ", "[\"at+jwt\"]"), Claims()),
       Reason::kMalformed},
      {"typ only in the claims",
       Signed({{"alg", Str("ES256")}, {"kid", Str("es256-key")}},
              ClaimsWith("typ", Str("at+jwt"))),
       Reason::kWrongTokenType},
      // typ is a header check made before any key is looked up.
      {"typ JWT and badly signed",
       FlipSignatureBit(Signed(With(EsHeader(), "typ", Str("JWT")), Claims())),
       Reason::kWrongTokenType},
  };
  ExpectVerdicts(rows);
}

// RFC 8725 3.10 and RFC 7515 4.1.11: headers that would let a token choose
// its key or its processing are refused outright, before any key lookup.
// jwt_test.cc has jwk (two ways), jku, x5u, x5c, three crit rows and b64.
TEST(HardeningTest, KeyChoosingAndCriticalHeadersRefused) {
  const Members attacker = HeaderFor(Keys().attacker);
  const std::vector<Row> rows = {
      {"jwk null", Signed(With(EsHeader(), "jwk", "null"), Claims()),
       Reason::kForbiddenHeader},
      {"jku empty", Signed(With(EsHeader(), "jku", Str("")), Claims()),
       Reason::kForbiddenHeader},
      {"x5u on a token the real key signed",
       Signed(With(EsHeader(), "x5u", Str("https://sigil.example/cert.pem")),
              Claims()),
       Reason::kForbiddenHeader},
      {"x5c empty array", Signed(With(EsHeader(), "x5c", "[]"), Claims()),
       Reason::kForbiddenHeader},
      {"jku spelled with escapes",
       Signed(With(attacker, "\\u006a\\u006bu",
                   Str("https://attacker.example/jwks.json")),
              Claims(), Keys().attacker),
       Reason::kForbiddenHeader},
      {"crit naming an extension that is present",
       Signed(
           With(With(EsHeader(), "exp", Num(kNow + 300)), "crit", "[\"exp\"]"),
           Claims()),
       Reason::kForbiddenHeader},
      {"crit null", Signed(With(EsHeader(), "crit", "null"), Claims()),
       Reason::kForbiddenHeader},
      {"jku and badly signed",
       FlipSignatureBit(
           Signed(With(EsHeader(), "jku", Str("https://attacker.example/")),
                  Claims())),
       Reason::kForbiddenHeader},
      // Only top-level header members act; the same names elsewhere are
      // data.
      {"jku as a claim",
       SignedClaims(ClaimsWith("jku", Str("https://attacker.example/"))),
       Reason::kValid},
      {"jwk nested inside another header member",
       Signed(With(EsHeader(), "ext", "{\"jwk\":{}}"), Claims()),
       Reason::kValid},
  };
  ExpectVerdicts(rows);
}

// RFC 8725 3.10: the kid is compared as bytes with the set's kids, never
// interpreted. jwt_test.cc has missing, unknown, empty, another case,
// "../../etc/passwd", "' OR 1=1 --", 2, 5 and 10 KB, an escaped NUL and
// non-string kids.
TEST(HardeningTest, KidIsOnlyALookupKey) {
  auto with_kid = [](std::string raw) {
    return Signed(With(EsHeader(), "kid", std::move(raw)), Claims());
  };
  const std::vector<Row> rows = {
      {"kid backslash traversal", with_kid(Str("..\\..\\keys\\es256-key")),
       Reason::kUnknownKey},
      {"kid traversal back to itself", with_kid(Str("es256-key/../es256-key")),
       Reason::kUnknownKey},
      {"kid with escaped solidi", with_kid("\"..\\/..\\/..\\/dev\\/null\""),
       Reason::kUnknownKey},
      {"kid percent-encoded traversal",
       with_kid(Str("%2e%2e%2f%2e%2e%2fetc%2fpasswd")), Reason::kUnknownKey},
      {"kid a file url", with_kid(Str("file:///dev/stdin")),
       Reason::kUnknownKey},
      {"kid /dev/zero", with_kid(Str("/dev/zero")), Reason::kUnknownKey},
      {"kid sql quoting the real kid", with_kid(Str("es256-key' OR '1'='1")),
       Reason::kUnknownKey},
      {"kid sql statement", with_kid(Str("x'; DROP TABLE keys; --")),
       Reason::kUnknownKey},
      {"kid ldap wildcard", with_kid(Str("*)(kid=*")), Reason::kUnknownKey},
      {"kid glob", with_kid(Str("*")), Reason::kUnknownKey},
      {"kid prefix of a real kid", with_kid(Str("es256-ke")),
       Reason::kUnknownKey},
      {"kid real kid with a trailing space", with_kid(Str("es256-key ")),
       Reason::kUnknownKey},
      {"kid real kid with a leading space", with_kid(Str(" es256-key")),
       Reason::kUnknownKey},
      {"kid real kid with an escaped newline", with_kid("\"es256-key\\n\""),
       Reason::kUnknownKey},
      {"kid with a unicode hyphen", with_kid(Str("es256\xe2\x80\x90key")),
       Reason::kUnknownKey},
      {"kid in fullwidth letters",
       with_kid(Str("\xef\xbd\x85\xef\xbd\x93"
                    "256-key")),
       Reason::kUnknownKey},
      {"kid with a right-to-left override",
       with_kid(Str("\xe2\x80\xae"
                    "yek-652se")),
       Reason::kUnknownKey},
      {"kid with a combining mark", with_kid(Str("es256-ke\xcc\x81y")),
       Reason::kUnknownKey},
      {"kid an emoji", with_kid(Str("\xf0\x9f\x94\x91")), Reason::kUnknownKey},
      {"kid with a byte order mark",
       with_kid(Str("\xef\xbb\xbf"
                    "es256-key")),
       Reason::kUnknownKey},
      {"kid of 4000 bytes", with_kid(Str(std::string(4000, 'k'))),
       Reason::kUnknownKey},
      {"kid real kid spelled with escapes", with_kid("\"\\u0065s256-key\""),
       Reason::kValid},
      {"kid of the eddsa key on an ES256 token", with_kid(Str("eddsa-key")),
       Reason::kAlgorithmMismatch},
      {"kid of the attacker's own key", with_kid(Str("attacker-key")),
       Reason::kUnknownKey},
  };
  ExpectVerdicts(rows);
}

// RFC 7515 2 and 7.1: exactly three segments of unpadded base64url with
// zero trailing bits. jwt_test.cc has padding, the standard alphabet and
// non-zero trailing bits in each segment, two, four and five segments,
// spaces and newlines, and an empty payload ("claims empty").
TEST(HardeningTest, StrictBase64Url) {
  const std::string token = ValidToken();
  const std::vector<std::string> parts = Split(token);
  const std::vector<Row> rows = {
      {"empty header segment", ReplaceSegment(token, 0, ""),
       Reason::kMalformed},
      {"three dots", "...", Reason::kMalformed},
      {"leading dot", "." + token, Reason::kMalformed},
      {"trailing dot", token + ".", Reason::kMalformed},
      {"header of length 1 mod 4",
       ReplaceSegment(token, 0, WithImpossibleLength(parts[0])),
       Reason::kMalformed},
      {"payload of length 1 mod 4",
       ReplaceSegment(token, 1, WithImpossibleLength(parts[1])),
       Reason::kMalformed},
      {"header padded in the middle",
       ReplaceSegment(
           token, 0,
           absl::StrCat(parts[0].substr(0, 4), "=", parts[0].substr(4))),
       Reason::kMalformed},
      {"header starting with '+'",
       ReplaceSegment(token, 0, "+" + parts[0].substr(1)), Reason::kMalformed},
      {"payload starting with '/'",
       ReplaceSegment(token, 1, "/" + parts[1].substr(1)), Reason::kMalformed},
      {"tab inside the header",
       ReplaceSegment(
           token, 0,
           absl::StrCat(parts[0].substr(0, 8), "\t", parts[0].substr(8))),
       Reason::kMalformed},
      {"carriage return and newline after the payload",
       ReplaceSegment(token, 1, parts[1] + "\r\n"), Reason::kMalformed},
      {"NUL byte inside the header",
       ReplaceSegment(token, 0,
                      absl::StrCat(parts[0].substr(0, 8), std::string(1, '\0'),
                                   parts[0].substr(8))),
       Reason::kMalformed},
      {"percent-encoded character in the payload",
       ReplaceSegment(token, 1, absl::StrCat("%65", parts[1].substr(1))),
       Reason::kMalformed},
      {"space inside the signature",
       ReplaceSegment(
           token, 2,
           absl::StrCat(parts[2].substr(0, 10), " ", parts[2].substr(10))),
       Reason::kBadSignature},
      {"signature with one '=' of padding",
       ReplaceSegment(token, 2, parts[2] + "="), Reason::kBadSignature},
      {"signature of length 1 mod 4",
       ReplaceSegment(token, 2, WithImpossibleLength(parts[2])),
       Reason::kBadSignature},
      {"header of a base64url'd header (double encoding)",
       ReplaceSegment(token, 0, B64(parts[0])), Reason::kMalformed},
  };
  ExpectVerdicts(rows);
}

// RFC 8725 3.4 via RFC 7515 5.2 / RFC 7519 4: a duplicate name is refused
// wherever it appears, including after unescaping. jwt_test.cc has a
// duplicate header alg and duplicate claims exp and iss.
TEST(HardeningTest, DuplicateJsonNames) {
  const std::vector<Row> rows = {
      {"header duplicate kid",
       Signed(Plus(EsHeader(), "kid", Str("eddsa-key")), Claims()),
       Reason::kMalformed},
      {"header duplicate kid with the same value",
       Signed(Plus(EsHeader(), "kid", Str("es256-key")), Claims()),
       Reason::kMalformed},
      {"header duplicate typ",
       Signed(Plus(EsHeader(), "typ", Str("JWT")), Claims()),
       Reason::kMalformed},
      {"header duplicate alg spelled with an escape",
       Signed(Plus(EsHeader(), "\\u0061lg", Str("none")), Claims()),
       Reason::kMalformed},
      {"header duplicate crit",
       Signed(Plus(With(EsHeader(), "crit", "[]"), "crit", "[]"), Claims()),
       Reason::kMalformed},
      {"claims duplicate aud",
       SignedClaims(Plus(Claims(), "aud", Str("system-b"))),
       Reason::kMalformed},
      {"claims duplicate sub with the same value",
       SignedClaims(Plus(Claims(), "sub", Str("user-1"))), Reason::kMalformed},
      {"claims duplicate jti", SignedClaims(Plus(Claims(), "jti", Str("t-2"))),
       Reason::kMalformed},
      {"claims duplicate sid", SignedClaims(Plus(Claims(), "sid", Str("s-2"))),
       Reason::kMalformed},
      {"claims duplicate scope",
       SignedClaims(Plus(Claims(), "scope", Str("admin"))), Reason::kMalformed},
      {"claims duplicate nbf",
       SignedClaims(Plus(Plus(Claims(), "nbf", Num(kNow)), "nbf", Num(kNow))),
       Reason::kMalformed},
      {"claims duplicate exp spelled with an escape",
       SignedClaims(Plus(Claims(), "\\u0065xp", Num(kNow + 100000))),
       Reason::kMalformed},
      {"claims duplicate iat with an escape inside the name",
       SignedClaims(Plus(Claims(), "i\\u0061t", Num(kNow))),
       Reason::kMalformed},
      {"claims duplicate inside an extra claim",
       SignedClaims(ClaimsWith("ext", "{\"a\":1,\"a\":2}")),
       Reason::kMalformed},
      {"claims duplicate inside an array of objects",
       SignedClaims(ClaimsWith("ext", "[{\"a\":1,\"a\":1}]")),
       Reason::kMalformed},
      {"claims with names differing only in case",
       SignedClaims(Plus(Claims(), "EXP", Num(kNow - 100))), Reason::kValid},
  };
  ExpectVerdicts(rows);
}

struct CapRow {
  std::string name;
  size_t max_token_bytes;
  std::string token;
  Reason want;
};

// RFC 8725 3.1 / 3.4 spirit: every cap applies before the bytes it guards
// are decoded or parsed, so hostile input costs bounded work and no deep
// recursion. jwt_test.cc has a 1 MiB token, 100k and 1000 dots, claims nine
// levels deep, kids of 5 KB and 10 KB and the exact size cap.
TEST(HardeningTest, SizeAndDepthCapsComeFirst) {
  constexpr size_t kLarge = 4 * 1024 * 1024;
  // The header JSON cap is 4 KiB; "pad" fills a header to `size` bytes.
  auto header_of_size = [](size_t size) {
    const std::string base = Obj(Plus(EsHeader(), "pad", "\"\""));
    return Signed(
        Plus(EsHeader(), "pad", Str(std::string(size - base.size(), 'p'))),
        Claims());
  };
  const std::vector<CapRow> rows = {
      {"garbage one byte over the cap", 64, std::string(65, '\xff'),
       Reason::kTokenTooLarge},
      {"a header of 1 MiB of '[' under a 4 MiB cap", kLarge,
       absl::StrCat(B64(std::string(1 << 20, '[')), ".", B64(Obj(Claims())),
                    ".AAAA"),
       Reason::kMalformed},
      {"a header JSON of exactly 4 KiB", kLarge, header_of_size(4096),
       Reason::kValid},
      {"a header JSON of 4 KiB + 1", kLarge, header_of_size(4097),
       Reason::kMalformed},
      {"a header nested 1500 deep within 4 KiB", kLarge,
       Signed(Plus(EsHeader(), "ext", Nested(1500, "1")), Claims()),
       Reason::kMalformed},
      {"a header member nested to the depth cap", kDefaultMaxTokenBytes,
       Signed(Plus(EsHeader(), "ext", Nested(3, "1")), Claims()),
       Reason::kValid},
      {"a header member one level past the depth cap", kDefaultMaxTokenBytes,
       Signed(Plus(EsHeader(), "ext", Nested(4, "1")), Claims()),
       Reason::kMalformed},
      {"claims nested a million deep under a 4 MiB cap", kLarge,
       SignedClaims(ClaimsWith("ext", Nested(1'000'000, "1"))),
       Reason::kMalformed},
      {"claims of nested objects 2000 deep", kLarge,
       SignedClaims(ClaimsWith("ext", absl::StrCat(Repeat("{\"a\":", 2000), "1",
                                                   Repeat("}", 2000)))),
       Reason::kMalformed},
      {"a claim nested to the depth cap", kDefaultMaxTokenBytes,
       SignedClaims(ClaimsWith("ext", Nested(3, "1"))), Reason::kValid},
      {"a claim one level past the depth cap", kDefaultMaxTokenBytes,
       SignedClaims(ClaimsWith("ext", Nested(4, "1"))), Reason::kMalformed},
      {"a million-deep claim under the default cap", kDefaultMaxTokenBytes,
       SignedClaims(ClaimsWith("ext", Nested(1'000'000, "1"))),
       Reason::kTokenTooLarge},
  };
  for (const CapRow& row : rows) {
    SCOPED_TRACE(row.name);
    ExpectVerdicts({{row.name, row.token, row.want}}, row.max_token_bytes);
  }
}

// RFC 7519 2 and RFC 8725 3.x: NumericDate is a plain integer in [0, 2^53)
// here, refused deterministically otherwise, whatever a float parser would
// make of it. jwt_test.cc has exp 2^53, 2^63, int64 max, 1700000300.5 and
// .0, 1.7000003e9, 1e309, -1, a string, a leading zero, true, null and
// missing; iat 1699999990.5, -10 and missing; nbf a string.
TEST(HardeningTest, NumericDateLiteralsRefused) {
  struct Literal {
    std::string name;
    std::string text;
    std::vector<absl::string_view> claims;  // where it is not yet tested
  };
  const std::vector<Literal> literals = {
      {"1e309", "1e309", {"iat", "nbf"}},
      {"-1e309", "-1e309", {"exp", "iat", "nbf"}},
      {"2^63", "9223372036854775808", {"iat", "nbf"}},
      {"2^64", "18446744073709551616", {"exp", "iat", "nbf"}},
      {"-2^63", "-9223372036854775808", {"exp", "iat", "nbf"}},
      {"2^53", "9007199254740992", {"iat", "nbf"}},
      {"2^53+1", "9007199254740993", {"exp", "iat", "nbf"}},
      {"400 digits", std::string(400, '9'), {"exp", "iat", "nbf"}},
      {"-1", "-1", {"iat", "nbf"}},
      {"-0", "-0", {"exp", "iat", "nbf", "sigil_iat_us"}},
      {"-0.0", "-0.0", {"exp", "iat", "nbf"}},
      {"fraction", "1699999999.5", {"nbf"}},
      {"zero fraction", "1699999999.000", {"iat", "nbf"}},
      {"exponent without fraction", "17e8", {"exp", "iat", "nbf"}},
      {"exponent with plus", "1.7E+9", {"exp", "iat", "nbf"}},
      {"zero exponent", "1700000300e0", {"exp", "iat", "nbf"}},
      {"negative exponent", "17000003000e-1", {"exp", "iat", "nbf"}},
      {"a string", Str(Num(kNow)), {"iat"}},
      {"an array", absl::StrCat("[", kNow + 300, "]"), {"exp", "iat", "nbf"}},
      {"true", "true", {"iat", "nbf"}},
      {"null", "null", {"iat", "nbf"}},
  };
  std::vector<Row> rows;
  for (const Literal& literal : literals) {
    for (absl::string_view claim : literal.claims) {
      rows.push_back({absl::StrCat(claim, " ", literal.name),
                      SignedClaims(ClaimsWith(claim, literal.text)),
                      Reason::kMalformed});
    }
  }
  ExpectVerdicts(rows);
}

// Well-formed NumericDates at the edges: exp has no leeway (exp == now is
// expired), iat and nbf have kLeeway. jwt_test.cc has exp now, now +/- 1,
// the end of year 9999, and iat/nbf at and past the leeway edge.
TEST(HardeningTest, NumericDateEdges) {
  constexpr int64_t kMaxDate = 253402300799;  // 9999-12-31T23:59:59Z
  const std::vector<Row> rows = {
      {"exp 0", SignedClaims(ClaimsWith("exp", "0")), Reason::kExpired},
      {"iat 0", SignedClaims(ClaimsWith("iat", "0")), Reason::kValid},
      {"nbf 0", SignedClaims(ClaimsWith("nbf", "0")), Reason::kValid},
      {"nbf now", SignedClaims(ClaimsWith("nbf", Num(kNow))), Reason::kValid},
      {"iat at the end of year 9999",
       SignedClaims(ClaimsWith("iat", Num(kMaxDate))), Reason::kNotYetValid},
      {"nbf at the end of year 9999",
       SignedClaims(ClaimsWith("nbf", Num(kMaxDate))), Reason::kNotYetValid},
      {"iat in year 10000", SignedClaims(ClaimsWith("iat", Num(kMaxDate + 1))),
       Reason::kMalformed},
      {"nbf in year 10000", SignedClaims(ClaimsWith("nbf", Num(kMaxDate + 1))),
       Reason::kMalformed},
      {"exp now with nbf in the future",
       SignedClaims(With(ClaimsWith("exp", Num(kNow)), "nbf", Num(kNow + 100))),
       Reason::kExpired},
      {"exp now and iat in the future",
       SignedClaims(With(ClaimsWith("exp", Num(kNow)), "iat", Num(kNow + 100))),
       Reason::kExpired},
  };
  ExpectVerdicts(rows);
}

// RFC 7519 4.1.3: "aud" is a string or an array of strings, each compared
// exactly with the verifying system. jwt_test.cc has another system, upper
// case, arrays with and without ours, an empty array, a number member, a
// nested array, an empty string and missing.
TEST(HardeningTest, AudienceMatchedExactly) {
  auto with_aud = [](std::string raw) {
    return SignedClaims(ClaimsWith("aud", std::move(raw)));
  };
  const std::vector<Row> rows = {
      {"aud a prefix of ours", with_aud(Str("system")), Reason::kWrongAudience},
      {"aud ours with a suffix", with_aud(Str("system-ab")),
       Reason::kWrongAudience},
      {"aud ours as a path prefix", with_aud(Str("system-a/admin")),
       Reason::kWrongAudience},
      {"aud with a leading space", with_aud(Str(" system-a")),
       Reason::kWrongAudience},
      {"aud with a trailing space", with_aud(Str("system-a ")),
       Reason::kWrongAudience},
      {"aud with a trailing newline", with_aud("\"system-a\\n\""),
       Reason::kWrongAudience},
      {"aud with a trailing tab", with_aud("\"system-a\\t\""),
       Reason::kWrongAudience},
      {"aud mixed case", with_aud(Str("System-A")), Reason::kWrongAudience},
      {"aud with a unicode hyphen",
       with_aud(Str("system\xe2\x80\x90"
                    "a")),
       Reason::kWrongAudience},
      {"aud space-separated list holding ours",
       with_aud(Str("system-a system-b")), Reason::kWrongAudience},
      {"aud comma-separated list holding ours",
       with_aud(Str("system-a,system-b")), Reason::kWrongAudience},
      {"aud wildcard", with_aud(Str("*")), Reason::kWrongAudience},
      {"aud ours spelled with an escape", with_aud("\"\\u0073ystem-a\""),
       Reason::kValid},
      {"aud array holding ours twice", with_aud("[\"system-a\",\"system-a\"]"),
       Reason::kValid},
      {"aud array of one near miss", with_aud("[\"system-a \"]"),
       Reason::kWrongAudience},
      {"aud array holding an empty string and ours",
       with_aud("[\"\",\"system-a\"]"), Reason::kMalformed},
      {"aud array holding null and ours", with_aud("[null,\"system-a\"]"),
       Reason::kMalformed},
      {"aud array holding true", with_aud("[\"system-a\",true]"),
       Reason::kMalformed},
      {"aud array holding an object",
       with_aud("[\"system-a\",{\"system-a\":true}]"), Reason::kMalformed},
      {"aud an object keyed by ours", with_aud("{\"system-a\":true}"),
       Reason::kMalformed},
      {"aud a number", with_aud("1"), Reason::kMalformed},
      {"aud null", with_aud("null"), Reason::kMalformed},
      {"aud true", with_aud("true"), Reason::kMalformed},
  };
  ExpectVerdicts(rows);
}

// RFC 8259 8.1 and RFC 8725 3.x: a string anywhere in the header or the
// claims that is not valid UTF-8, or that holds a NUL or another control
// character, makes the token MALFORMED, even where the rest would match
// (a C-string compare would stop at the NUL). Each bad spelling is appended
// to each field's legitimate value. json_test.cc checks the parser alone;
// jwt_test.cc has an escaped NUL in the kid.
TEST(HardeningTest, InvalidUtf8AndNulRefusedInEveryString) {
  struct Bad {
    const char* name;
    std::string raw;  // spliced into a JSON string literal as is
  };
  const std::vector<Bad> bad = {
      {"raw byte 0xff", "\xff"},
      {"overlong '/'", "\xc0\xaf"},
      {"overlong NUL", "\xc0\x80"},
      {"utf-8 encoded surrogate", "\xed\xa0\x80"},
      {"code point above U+10FFFF", "\xf4\x90\x80\x80"},
      {"truncated sequence", "\xe2\x82"},
      {"lone continuation byte", "\x80"},
      {"raw NUL", std::string(1, '\0')},
      {"escaped NUL", "\\u0000"},
      {"escaped NUL then more text", "\\u0000admin"},
      {"escaped lone high surrogate", "\\ud800"},
      {"escaped lone low surrogate", "\\udc00"},
      {"raw control character", "\x01"},
  };
  struct Field {
    const char* name;
    std::function<std::string(const std::string&)> token;
  };
  auto quoted = [](absl::string_view value, const std::string& raw) {
    return absl::StrCat("\"", value, raw, "\"");
  };
  const std::vector<Field> fields = {
      {"claim iss",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith("iss", quoted(kIssuer, raw)));
       }},
      {"claim sub",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith("sub", quoted("user-1", raw)));
       }},
      {"claim aud string",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith("aud", quoted(kAudience, raw)));
       }},
      {"claim aud array member",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith(
             "aud",
             absl::StrCat("[\"system-b\",", quoted(kAudience, raw), "]")));
       }},
      {"claim jti",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith("jti", quoted("token-1", raw)));
       }},
      {"claim sid",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith("sid", quoted("session-1", raw)));
       }},
      {"claim scope",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith("scope", quoted("read", raw)));
       }},
      {"an extra claim's value",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith("note", quoted("n", raw)));
       }},
      {"an extra claim's name",
       [&](const std::string& raw) {
         return SignedClaims(ClaimsWith(absl::StrCat("note", raw), Str("n")));
       }},
      {"header kid",
       [&](const std::string& raw) {
         return Signed(With(EsHeader(), "kid", quoted("es256-key", raw)),
                       Claims());
       }},
      {"header typ",
       [&](const std::string& raw) {
         return Signed(With(EsHeader(), "typ", quoted("at+jwt", raw)),
                       Claims());
       }},
      {"header alg",
       [&](const std::string& raw) {
         return Signed(With(EsHeader(), "alg", quoted("ES256", raw)), Claims());
       }},
      {"an extra header member",
       [&](const std::string& raw) {
         return Signed(With(EsHeader(), "cty", quoted("x", raw)), Claims());
       }},
  };
  std::vector<Row> rows = {
      {"valid unicode in sub",
       SignedClaims(ClaimsWith("sub", Str("\xe3\x83\xa6\xe3\x83\xbc\xf0\x9f"
                                          "\x98\x80"))),
       Reason::kValid},
      {"escaped non-BMP character in sub",
       SignedClaims(ClaimsWith("sub", "\"\\ud83d\\ude00\"")), Reason::kValid},
  };
  for (const Field& field : fields) {
    for (const Bad& b : bad) {
      rows.push_back({absl::StrCat(field.name, ": ", b.name),
                      field.token(b.raw), Reason::kMalformed});
    }
  }
  ExpectVerdicts(rows);
}

// RFC 8725 3.x ordering: nothing in the claims is judged before the
// signature verifies, so a forged token never learns which claim failed.
// jwt_test.cc has expired, malformed claims and wrong issuer with a flipped
// bit, expired by an attacker's key, and expired with an unknown kid.
TEST(HardeningTest, BadSignatureOutranksEveryClaim) {
  const TestKeys& k = Keys();
  const std::string expired = SignedClaims(ClaimsWith("exp", Num(kNow - 100)));
  const std::vector<std::string> expired_parts = Split(expired);
  const std::vector<Row> rows = {
      {"expired, eddsa, bit flipped",
       FlipSignatureBit(Signed(HeaderFor(k.eddsa),
                               ClaimsWith("exp", Num(kNow - 100)), k.eddsa)),
       Reason::kBadSignature},
      {"expired, rs256, bit flipped",
       FlipSignatureBit(Signed(HeaderFor(k.rs256),
                               ClaimsWith("exp", Num(kNow - 100)), k.rs256)),
       Reason::kBadSignature},
      {"expired, signature truncated",
       ReplaceSegment(expired, 2, expired_parts[2].substr(0, 40)),
       Reason::kBadSignature},
      {"expired, signature empty", ReplaceSegment(expired, 2, ""),
       Reason::kBadSignature},
      {"expired, signature not base64url", ReplaceSegment(expired, 2, "***"),
       Reason::kBadSignature},
      {"expired, exp rewritten under the old signature",
       ReplaceSegment(ValidToken(), 1,
                      B64(Obj(ClaimsWith("exp", Num(kNow - 100))))),
       Reason::kBadSignature},
      {"expired exactly now, bit flipped",
       FlipSignatureBit(SignedClaims(ClaimsWith("exp", Num(kNow)))),
       Reason::kBadSignature},
      {"not yet valid, bit flipped",
       FlipSignatureBit(SignedClaims(ClaimsWith("nbf", Num(kNow + 3600)))),
       Reason::kBadSignature},
      {"wrong audience, bit flipped",
       FlipSignatureBit(SignedClaims(ClaimsWith("aud", Str("system-b")))),
       Reason::kBadSignature},
      {"duplicate claim, bit flipped",
       FlipSignatureBit(SignedClaims(Plus(Claims(), "exp", Num(kNow + 1)))),
       Reason::kBadSignature},
      {"invalid utf-8 in a claim, bit flipped",
       FlipSignatureBit(SignedClaims(ClaimsWith("sub", "\"\xff\""))),
       Reason::kBadSignature},
      {"claims nested too deep, bit flipped",
       FlipSignatureBit(SignedClaims(ClaimsWith("ext", Nested(20, "1")))),
       Reason::kBadSignature},
      {"claims not json, bit flipped",
       FlipSignatureBit(SignedText(Obj(EsHeader()), "{", k.es256)),
       Reason::kBadSignature},
      {"expired, signed under the key of another algorithm",
       Signed(With(EsHeader(), "alg", Str("EdDSA")),
              ClaimsWith("exp", Num(kNow - 100)), k.eddsa),
       Reason::kAlgorithmMismatch},
  };
  ExpectVerdicts(rows);
}

using Bn = std::unique_ptr<BIGNUM, decltype(&BN_free)>;

Bn NewBn() { return Bn(BN_new(), BN_free); }

Bn Prime(int bits, BN_ULONG add, BN_ULONG rem) {
  Bn p = NewBn();
  Bn a = NewBn();
  Bn r = NewBn();
  if (BN_set_word(a.get(), add) != 1 || BN_set_word(r.get(), rem) != 1 ||
      BN_generate_prime_ex(p.get(), bits, 0, a.get(), r.get(), nullptr) != 1) {
    std::abort();
  }
  return p;
}

Bn Product(const BIGNUM* a, const BIGNUM* b) {
  Bn n = NewBn();
  std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> ctx(BN_CTX_new(),
                                                      BN_CTX_free);
  if (BN_mul(n.get(), a, b, ctx.get()) != 1) std::abort();
  return n;
}

// n = pq with p = 1 mod 8 and q = 1 + m(p-1)/2 prime for an odd m: then
// b^(n-1) = 1 mod p exactly for the quadratic residues b, so a primality
// test at random bases reveals p for about half of them.
Bn HalfRevealingModulus() {
  for (;;) {
    const Bn p = Prime(1025, 8, 1);
    Bn half = NewBn();
    if (BN_rshift1(half.get(), p.get()) != 1) std::abort();  // (p-1)/2
    Bn q = NewBn();
    for (BN_ULONG m = 1; m < 4000; m += 2) {
      if (BN_copy(q.get(), half.get()) == nullptr ||
          BN_mul_word(q.get(), m) != 1 || BN_add_word(q.get(), 1) != 1) {
        std::abort();
      }
      if (BN_check_prime(q.get(), nullptr, nullptr) == 1) {
        return Product(p.get(), q.get());
      }
    }
  }
}

std::string BnBytes(const BIGNUM* n) {
  std::string bytes(BN_num_bytes(n), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(bytes.data()));
  return bytes;
}

Jwk RsaJwk(const BIGNUM* n) {
  Jwk jwk = Keys().rs256.public_key().ToJwk();
  jwk.n = B64(BnBytes(n));
  return jwk;
}

// Regression (jwks_fuzzer): an RSA key's verdict was drawn by OpenSSL's
// Miller-Rabin at random bases, so a crafted modulus loaded on some fetches
// of a key set and failed on others. Each modulus is loaded many times and
// must get one verdict.
TEST(HardeningTest, RsaModulusVerdictIsRepeatable) {
  struct KeyRow {
    std::string name;
    Jwk jwk;
    absl::StatusCode want;
  };
  const Bn prime = Prime(2048, 2, 1);
  const Bn half_prime = Prime(1025, 2, 1);
  const std::vector<KeyRow> rows = {
      {"a real key", Keys().rs256.public_key().ToJwk(), absl::StatusCode::kOk},
      {"a prime modulus", RsaJwk(prime.get()),
       absl::StatusCode::kInvalidArgument},
      {"a prime squared",
       RsaJwk(Product(half_prime.get(), half_prime.get()).get()),
       absl::StatusCode::kInvalidArgument},
      {"pq revealing p to half of all bases",
       RsaJwk(HalfRevealingModulus().get()),
       absl::StatusCode::kInvalidArgument},
  };
  for (const KeyRow& row : rows) {
    SCOPED_TRACE(row.name);
    for (int i = 0; i < 64; ++i) {
      const absl::Status status = PublicKey::FromJwk(row.jwk).status();
      ASSERT_THAT(status, StatusIs(row.want)) << "load " << i;
    }
  }
}

}  // namespace
}  // namespace sigil::token
