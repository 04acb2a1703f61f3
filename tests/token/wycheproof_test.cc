// Project Wycheproof vectors (vectors/README.md), read at run time: raw
// signature verification per algorithm through PublicKey, and whole compact
// JWS through the JWS layer.

#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/algorithm.h"
#include "token/base64url.h"
#include "token/json.h"
#include "token/jws.h"
#include "token/key.h"
#include "token/key_set.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::Not;

struct VectorFile {
  std::string name;
  JsonValue doc;
};

VectorFile Load(absl::string_view relative) {
  const std::string path = absl::StrCat(SIGIL_VECTORS_DIR, "/", relative);
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  EXPECT_FALSE(text.empty()) << "cannot read " << path;
  // The files run to a few megabytes and nest about six levels deep.
  absl::StatusOr<JsonValue> doc = ParseJson(text, {text.size(), 16});
  EXPECT_THAT(doc, IsOk()) << relative;
  return {std::string(relative), doc.ok() ? *std::move(doc) : JsonValue()};
}

const std::vector<JsonValue>& Items(const JsonValue& object,
                                    absl::string_view member) {
  static const std::vector<JsonValue>* const kEmpty =
      new std::vector<JsonValue>();
  const JsonValue* v = object.Find(member);
  return v != nullptr && v->is_array() ? v->items() : *kEmpty;
}

std::string StringMember(const JsonValue& object, absl::string_view member) {
  const JsonValue* v = object.Find(member);
  return v != nullptr && v->is_string() ? v->string_value() : "";
}

int64_t IntMember(const JsonValue& object, absl::string_view member) {
  const JsonValue* v = object.Find(member);
  return v != nullptr ? v->AsInt64().value_or(-1) : -1;
}

// Verdict counts, recorded in the test report so that "acceptable" results
// and expected rejections stay visible. The raw files check each test once
// per import of its key, so their verdicts outnumber their tests.
struct Tally {
  int processed = 0;
  int valid_accepted = 0;
  int invalid_rejected = 0;
  int unsupported_rejected = 0;
  int quirks_rejected = 0;
  int acceptable_accepted = 0;
  int acceptable_rejected = 0;

  void Record(absl::string_view prefix) const {
    for (const auto& [name, value] : std::vector<std::pair<const char*, int>>{
             {"processed", processed},
             {"valid_accepted", valid_accepted},
             {"invalid_rejected", invalid_rejected},
             {"unsupported_rejected", unsupported_rejected},
             {"quirks_rejected", quirks_rejected},
             {"acceptable_accepted", acceptable_accepted},
             {"acceptable_rejected", acceptable_rejected}}) {
      ::testing::Test::RecordProperty(absl::StrCat(prefix, "_", name), value);
    }
  }
};

struct RawFile {
  const char* file;
  Algorithm alg;
  const char* jwk_member;
};

constexpr RawFile kRawFiles[] = {
    {"wycheproof/ecdsa_secp256r1_sha256_p1363_test.json", Algorithm::kES256,
     "publicKeyJwk"},
    {"wycheproof/ed25519_test.json", Algorithm::kEdDSA, "publicKeyJwk"},
    {"wycheproof/rsa_signature_2048_sha256_test.json", Algorithm::kRS256,
     "keyJwk"},
};

void PrintTo(const RawFile& file, std::ostream* os) { *os << file.file; }

class WycheproofSignatureTest : public ::testing::TestWithParam<RawFile> {};

INSTANTIATE_TEST_SUITE_P(All, WycheproofSignatureTest,
                         ::testing::ValuesIn(kRawFiles),
                         [](const ::testing::TestParamInfo<RawFile>& info) {
                           return std::string(AlgorithmName(info.param.alg));
                         });

// Every group's key is imported both from its PEM and, where the group has
// one, from its JWK; each import must reach the same verdict.
TEST_P(WycheproofSignatureTest, VerifySignature) {
  const RawFile& param = GetParam();
  const VectorFile vectors = Load(param.file);
  Tally tally;
  for (const JsonValue& group : Items(vectors.doc, "testGroups")) {
    std::vector<std::pair<std::string, PublicKey>> keys;
    absl::StatusOr<PublicKey> from_pem = PublicKey::FromPem(
        StringMember(group, "publicKeyPem"), "wycheproof", param.alg);
    ASSERT_THAT(from_pem, IsOk()) << vectors.name;
    keys.emplace_back("pem", *from_pem);
    if (const JsonValue* jwk_json = group.Find(param.jwk_member);
        jwk_json != nullptr) {
      absl::StatusOr<Jwk> jwk = JwkFromJson(*jwk_json);
      ASSERT_THAT(jwk, IsOk()) << vectors.name;
      // These JWKs omit "alg"; the file fixes the algorithm.
      if (jwk->alg.empty()) jwk->alg = std::string(AlgorithmName(param.alg));
      absl::StatusOr<PublicKey> from_jwk = PublicKey::FromJwk(*jwk);
      ASSERT_THAT(from_jwk, IsOk()) << vectors.name;
      keys.emplace_back("jwk", *from_jwk);
    }

    for (const JsonValue& test : Items(group, "tests")) {
      ++tally.processed;
      const std::string result = StringMember(test, "result");
      const std::string message =
          absl::HexStringToBytes(StringMember(test, "msg"));
      const std::string signature =
          absl::HexStringToBytes(StringMember(test, "sig"));
      for (const auto& [source, key] : keys) {
        SCOPED_TRACE(absl::StrCat(vectors.name, " tcId ",
                                  IntMember(test, "tcId"), " key from ", source,
                                  " (", StringMember(test, "comment"), ")"));
        const absl::Status status = key.VerifySignature(message, signature);
        if (!status.ok()) {
          EXPECT_EQ(ReasonOf(status), Reason::kBadSignature) << status;
        }
        if (result == "valid") {
          EXPECT_THAT(status, IsOk());
          tally.valid_accepted += status.ok();
        } else if (result == "invalid") {
          EXPECT_THAT(status, Not(IsOk()));
          tally.invalid_rejected += !status.ok();
        } else {
          ASSERT_EQ(result, "acceptable");
          (status.ok() ? tally.acceptable_accepted
                       : tally.acceptable_rejected)++;
        }
      }
    }
  }
  ASSERT_GT(tally.processed, 0) << vectors.name;
  EXPECT_EQ(tally.processed, IntMember(vectors.doc, "numberOfTests"))
      << vectors.name;
  tally.Record(AlgorithmName(param.alg));
}

// Whether Sigil implements this key, judged from the JSON alone so that an
// import bug cannot pass for an unsupported key.
bool SigilSupportsKey(const JsonValue& jwk) {
  const std::string kty = StringMember(jwk, "kty");
  const std::string alg = StringMember(jwk, "alg");
  const std::string crv = StringMember(jwk, "crv");
  const std::string use = StringMember(jwk, "use");
  if (jwk.Find("use") != nullptr && use != "sig") return false;
  if (const JsonValue* ops = jwk.Find("key_ops"); ops != nullptr) {
    bool verify = false;
    for (const JsonValue& op : Items(jwk, "key_ops")) {
      verify = verify || (op.is_string() && op.string_value() == "verify");
    }
    if (!verify) return false;
  }
  return (kty == "EC" && alg == "ES256" && crv == "P-256") ||
         (kty == "OKP" && alg == "EdDSA" && crv == "Ed25519") ||
         (kty == "RSA" && alg == "RS256");
}

bool SigilSupportsTokenAlgorithm(absl::string_view token) {
  const absl::StatusOr<std::string> header =
      Base64UrlDecode(token.substr(0, token.find('.')));
  if (!header.ok()) return false;
  const absl::StatusOr<JsonValue> json = ParseJson(*header);
  if (!json.ok()) return false;
  const std::string alg = StringMember(*json, "alg");
  return alg == "ES256" || alg == "EdDSA" || alg == "RS256";
}

TEST(WycheproofJwsTest, JsonWebSignature) {
  const VectorFile vectors = Load("wycheproof/json_web_signature_test.json");
  // Known quirks of this file (vectors/README.md): the label is wrong for a
  // strict verifier, so it is not compared. All of them use algorithms Sigil
  // does not implement, so each must still be rejected.
  const std::map<int64_t, const char*> kQuirks = {
      {346, "key alg PS256, token PS384"},
      {350, "key alg PS256, token PS384"},
      {347, "key alg typo ES521"},
      {351, "key alg typo ES521"},
      {357, "byte-identical to 367 and 370, contradictory labels"},
      {367, "byte-identical to 357 and 370, contradictory labels"},
      {370, "byte-identical to 357 and 367, contradictory labels"},
      {372, "contains '?', labelled valid"},
      {373, "contains '?', labelled valid"},
  };
  Tally tally;
  for (const JsonValue& group : Items(vectors.doc, "testGroups")) {
    // Groups of symmetric keys have no "public" member; their private key
    // must then fail to import as a public key.
    const JsonValue* key_json = group.Find("public");
    if (key_json == nullptr) key_json = group.Find("private");
    ASSERT_NE(key_json, nullptr);
    const bool key_supported = SigilSupportsKey(*key_json);
    absl::StatusOr<Jwk> jwk = JwkFromJson(*key_json);
    absl::StatusOr<PublicKey> key =
        jwk.ok() ? PublicKey::FromJwk(*jwk) : jwk.status();
    EXPECT_EQ(key.ok(), key_supported)
        << "group " << StringMember(group, "comment") << ": " << key.status();

    for (const JsonValue& test : Items(group, "tests")) {
      ++tally.processed;
      const int64_t tc_id = IntMember(test, "tcId");
      SCOPED_TRACE(absl::StrCat(vectors.name, " tcId ", tc_id, " (",
                                StringMember(test, "comment"), ")"));
      const JsonValue* jws = test.Find("jws");
      ASSERT_NE(jws, nullptr);
      // tcId 17 is a JSON serialization, given as an object.
      const std::string token =
          jws->is_string() ? jws->string_value() : jws->Serialize();
      absl::Status status =
          key.ok() ? VerifyJwsCompact(token, *key).status() : key.status();
      if (key.ok() && !status.ok()) {
        EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated));
      }
      const std::string result = StringMember(test, "result");
      const bool supported =
          key_supported && SigilSupportsTokenAlgorithm(token);
      if (kQuirks.count(tc_id) > 0) {
        EXPECT_THAT(status, Not(IsOk())) << kQuirks.at(tc_id);
        tally.quirks_rejected += !status.ok();
      } else if (result == "valid" && supported) {
        EXPECT_THAT(status, IsOk());
        tally.valid_accepted += status.ok();
      } else if (result == "valid") {
        EXPECT_THAT(status, Not(IsOk()))
            << "valid, but with an algorithm or key Sigil does not implement";
        tally.unsupported_rejected += !status.ok();
      } else if (result == "invalid") {
        EXPECT_THAT(status, Not(IsOk()));
        tally.invalid_rejected += !status.ok();
      } else {
        ASSERT_EQ(result, "acceptable");
        (status.ok() ? tally.acceptable_accepted : tally.acceptable_rejected)++;
      }
    }
  }
  ASSERT_GT(tally.processed, 0);
  EXPECT_EQ(tally.processed, IntMember(vectors.doc, "numberOfTests"));
  EXPECT_EQ(tally.quirks_rejected, static_cast<int>(kQuirks.size()));
  EXPECT_GT(tally.valid_accepted, 0);
  tally.Record("jws");
}

}  // namespace
}  // namespace sigil::token
