// JOSE examples from RFC 7520, RFC 8037 and RFC 7797 (vectors/README.md),
// read at run time and run through the compact JWS layer. None of them has
// the "typ" and "kid" Sigil issues, so they use the single-key verification.

#include <fstream>
#include <initializer_list>
#include <ostream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/json.h"
#include "token/jws.h"
#include "token/key.h"
#include "token/key_set.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;

JsonValue LoadExample(absl::string_view relative) {
  const std::string path =
      absl::StrCat(SIGIL_VECTORS_DIR, "/jose-cookbook/", relative);
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  EXPECT_FALSE(text.empty()) << "cannot read " << path;
  absl::StatusOr<JsonValue> doc = ParseJson(text, {text.size(), 8});
  EXPECT_THAT(doc, IsOk()) << relative;
  return doc.ok() ? *std::move(doc) : JsonValue();
}

// Follows a path of object members; null when any is missing.
const JsonValue* At(const JsonValue& doc,
                    std::initializer_list<absl::string_view> path) {
  const JsonValue* v = &doc;
  for (absl::string_view name : path) {
    if (v == nullptr || !v->is_object()) return nullptr;
    v = v->Find(name);
  }
  return v;
}

std::string StringAt(const JsonValue& doc,
                     std::initializer_list<absl::string_view> path) {
  const JsonValue* v = At(doc, path);
  return v != nullptr && v->is_string() ? v->string_value() : "";
}

// The example's key with the example's "alg", which the cookbook keeps
// beside the key rather than in it.
absl::StatusOr<PublicKey> ExampleKey(const JsonValue& doc) {
  const JsonValue* key = At(doc, {"input", "key"});
  if (key == nullptr) return absl::NotFoundError("no input.key");
  absl::StatusOr<Jwk> jwk = JwkFromJson(*key);
  if (!jwk.ok()) return jwk.status();
  if (jwk->alg.empty()) jwk->alg = StringAt(doc, {"input", "alg"});
  return PublicKey::FromJwk(*jwk);
}

struct SignedExample {
  const char* file;
  bool has_kid;
};

class CookbookSignedTest : public ::testing::TestWithParam<SignedExample> {};

void PrintTo(const SignedExample& example, std::ostream* os) {
  *os << example.file;
}

INSTANTIATE_TEST_SUITE_P(
    Examples, CookbookSignedTest,
    ::testing::Values(SignedExample{"curve25519/jws.json", false},
                      SignedExample{"jws/4_1.rsa_v15_signature.json", true}),
    [](const ::testing::TestParamInfo<SignedExample>& info) {
      return info.param.has_kid ? std::string("Rfc7520Rs256")
                                : std::string("Rfc8037Ed25519");
    });

TEST_P(CookbookSignedTest, CompactOutputVerifies) {
  const JsonValue doc = LoadExample(GetParam().file);
  absl::StatusOr<PublicKey> key = ExampleKey(doc);
  ASSERT_THAT(key, IsOk());
  const std::string compact = StringAt(doc, {"output", "compact"});
  ASSERT_FALSE(compact.empty());

  absl::StatusOr<std::string> payload = VerifyJwsCompact(compact, *key);
  ASSERT_THAT(payload, IsOk());
  EXPECT_EQ(*payload, StringAt(doc, {"input", "payload"}));

  const std::string tampered =
      compact.substr(0, compact.size() - 2) +
      (compact[compact.size() - 2] == 'A' ? "B" : "A") + compact.back();
  EXPECT_EQ(ReasonOf(VerifyJwsCompact(tampered, *key).status()),
            Reason::kBadSignature);
}

// With a kid, the example also verifies the way Sigil tokens do: by lookup
// in a key set.
TEST(CookbookTest, Rfc7520Rs256VerifiesThroughAKeySet) {
  const JsonValue doc = LoadExample("jws/4_1.rsa_v15_signature.json");
  absl::StatusOr<PublicKey> key = ExampleKey(doc);
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->kid(), "bilbo.baggins@hobbiton.example");
  KeySet set;
  ASSERT_THAT(set.Add(*key), IsOk());
  absl::StatusOr<UnverifiedJws> jws = ParseJwsCompact(
      StringAt(doc, {"output", "compact"}), kDefaultMaxJwsBytes);
  ASSERT_THAT(jws, IsOk());
  EXPECT_EQ(jws->header.alg, Algorithm::kRS256);
  EXPECT_FALSE(jws->header.typ.has_value());
  absl::StatusOr<const PublicKey*> used = VerifyJwsSignature(*jws, set);
  ASSERT_THAT(used, IsOk());
  EXPECT_EQ((*used)->kid(), "bilbo.baggins@hobbiton.example");
}

// RFC 8037's example key carries its private "d"; only "x" may be used.
TEST(CookbookTest, Rfc8037PrivateMemberIsNotExported) {
  const JsonValue doc = LoadExample("curve25519/jws.json");
  ASSERT_NE(At(doc, {"input", "key", "d"}), nullptr);
  absl::StatusOr<PublicKey> key = ExampleKey(doc);
  ASSERT_THAT(key, IsOk());
  const Jwk exported = key->ToJwk();
  EXPECT_EQ(exported.x, StringAt(doc, {"input", "key", "x"}));
  EXPECT_EQ(JwkToJson(exported).find("\"d\""), std::string::npos);
}

TEST(CookbookTest, Es512IsUnsupported) {
  const JsonValue doc = LoadExample("jws/4_3.ecdsa_signature.json");
  EXPECT_EQ(ReasonOf(ParseJwsCompact(StringAt(doc, {"output", "compact"}),
                                     kDefaultMaxJwsBytes)
                         .status()),
            Reason::kUnsupportedAlgorithm);
  absl::StatusOr<PublicKey> key = ExampleKey(doc);
  EXPECT_THAT(key, StatusIs(absl::StatusCode::kInvalidArgument))
      << "a P-521 key must not import";
}

TEST(CookbookTest, JsonSerializationsAreMalformed) {
  for (absl::string_view file :
       {"jws/4_6.protecting_specific_header_fields.json",
        "jws/4_8.multiple_signatures.json", "curve25519/jws.json",
        "jws/4_1.rsa_v15_signature.json"}) {
    const JsonValue doc = LoadExample(file);
    int checked = 0;
    for (absl::string_view form : {"json", "json_flat"}) {
      const JsonValue* serialization = At(doc, {"output", form});
      if (serialization == nullptr) continue;
      SCOPED_TRACE(absl::StrCat(file, " output.", form));
      ++checked;
      EXPECT_EQ(ReasonOf(ParseJwsCompact(serialization->Serialize(),
                                         kDefaultMaxJwsBytes)
                             .status()),
                Reason::kMalformed);
    }
    EXPECT_GT(checked, 0) << file;
  }
}

TEST(CookbookTest, Rfc7797UnencodedPayloadIsForbidden) {
  const JsonValue doc = LoadExample("rfc7797/hmac-sha2_b64_false.json");
  const std::string compact = StringAt(doc, {"output", "compact"});
  ASSERT_FALSE(compact.empty());
  EXPECT_EQ(ReasonOf(ParseJwsCompact(compact, kDefaultMaxJwsBytes).status()),
            Reason::kForbiddenHeader);
}

}  // namespace
}  // namespace sigil::token
