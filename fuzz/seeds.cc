// sigil_fuzz_seeds OUT_DIR [VECTORS_DIR]: writes a seed corpus per fuzzer
// under OUT_DIR/<fuzzer>/. Keys are throwaway ones made here; the external
// test vectors (tests/vectors), when given, are read where they are, and
// only OUT_DIR is written.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "fuzz/jwt_fuzz_fixture.h"
#include "sigil/v1/identity.pb.h"
#include "token/base64url.h"
#include "token/json.h"
#include "token/jwt.h"
#include "token/key.h"
#include "token/key_set.h"

namespace sigil::fuzz {
namespace {

using token::Algorithm;
using token::JsonValue;
using token::PrivateKey;

class Corpus {
 public:
  Corpus(const std::filesystem::path& root, const char* fuzzer)
      : dir_(root / fuzzer) {
    std::filesystem::create_directories(dir_);
  }

  void Add(const std::string& bytes) {
    std::ofstream(dir_ / absl::StrCat("seed-", count_++), std::ios::binary)
        << bytes;
  }

 private:
  std::filesystem::path dir_;
  int count_ = 0;
};

std::string Prefixed(uint8_t mode, const std::string& rest) {
  return std::string(1, static_cast<char>(mode)) + rest;
}

std::string HeaderFor(absl::string_view alg, absl::string_view kid) {
  return absl::StrCat(R"({"alg":")", alg, R"(","kid":")", kid,
                      R"(","typ":"at+jwt"})");
}

std::string ClaimsJson(absl::string_view extra) {
  return absl::StrCat(R"({"iss":")", kIssuer, R"(","sub":"user-1","aud":)",
                      R"([")", kAudience, R"(","system-b"],"iat":)", kNow - 10,
                      R"(,"exp":)", kNow + 300, R"(,"nbf":)", kNow - 10,
                      R"(,"jti":"token-1","sid":"session-1",)",
                      R"("scope":"read write","sigil_iat_us":)",
                      (kNow - 10) * 1'000'000, extra, "}");
}

token::JwtClaims SampleClaims() {
  token::JwtClaims claims;
  claims.issuer = kIssuer;
  claims.subject = "user-1";
  claims.audience = {kAudience, "system-b"};
  claims.issued_at = absl::FromUnixSeconds(kNow - 10);
  claims.expires_at = absl::FromUnixSeconds(kNow + 300);
  claims.token_id = "token-1";
  claims.session_id = "session-1";
  claims.scopes = {"read", "write"};
  claims.issued_at_us = (kNow - 10) * 1'000'000 + 7;
  return claims;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// A vector file parsed with room for its size; null when absent.
JsonValue ReadVectors(const std::filesystem::path& path) {
  absl::StatusOr<JsonValue> doc =
      token::ParseJson(ReadFile(path), token::JsonLimits{16 << 20, 16});
  return doc.ok() ? *std::move(doc) : JsonValue();
}

void AddCompactJws(const std::string& jws, Corpus& jwt, Corpus& base64url) {
  jwt.Add(Prefixed(kRawToken, jws));
  for (absl::string_view segment : absl::StrSplit(jws, '.')) {
    base64url.Add(std::string(segment));
  }
}

void AddVectors(const std::filesystem::path& vectors, Corpus& json,
                Corpus& base64url, Corpus& jwt, Corpus& jwks) {
  for (const char* file : {"wycheproof/json_web_signature_test.json",
                           "wycheproof/json_web_key_test.json"}) {
    const JsonValue doc = ReadVectors(vectors / file);
    const JsonValue* groups =
        doc.is_object() ? doc.Find("testGroups") : nullptr;
    if (groups == nullptr) {
      std::cerr << "no vectors in " << (vectors / file) << "\n";
      continue;
    }
    for (const JsonValue& group : groups->items()) {
      if (const JsonValue* key = group.Find("public"); key != nullptr) {
        const std::string text = key->Serialize();
        jwks.Add(text);
        json.Add(text);
      }
      const JsonValue* tests = group.Find("tests");
      if (tests == nullptr) continue;
      for (const JsonValue& test : tests->items()) {
        const JsonValue* jws = test.Find("jws");
        if (jws == nullptr) continue;
        if (jws->is_string()) {
          AddCompactJws(jws->string_value(), jwt, base64url);
        } else {
          json.Add(jws->Serialize());
        }
      }
    }
  }
  for (const char* file : {"jose-cookbook/curve25519/jws.json",
                           "jose-cookbook/jws/4_1.rsa_v15_signature.json",
                           "jose-cookbook/jws/4_3.ecdsa_signature.json",
                           "jose-cookbook/rfc7797/hmac-sha2_b64_false.json"}) {
    const JsonValue doc = ReadVectors(vectors / file);
    if (!doc.is_object()) continue;
    const JsonValue* output = doc.Find("output");
    const JsonValue* compact = output ? output->Find("compact") : nullptr;
    if (compact != nullptr && compact->is_string()) {
      AddCompactJws(compact->string_value(), jwt, base64url);
    }
    const JsonValue* input = doc.Find("input");
    const JsonValue* key = input ? input->Find("key") : nullptr;
    if (key != nullptr) jwks.Add(key->Serialize());
  }
}

int Run(const std::filesystem::path& out, const char* vectors) {
  Corpus json(out, "json_fuzzer");
  Corpus base64url(out, "base64url_fuzzer");
  Corpus jwt(out, "jwt_fuzzer");
  Corpus jwks(out, "jwks_fuzzer");
  Corpus wire(out, "wire_fuzzer");

  std::vector<PrivateKey> keys = {
      *PrivateKey::Generate(Algorithm::kES256, kEs256Kid),
      *PrivateKey::Generate(Algorithm::kEdDSA, kEdDsaKid),
      *PrivateKey::Generate(Algorithm::kRS256, "rs256"),
  };
  token::KeySet set;
  for (const PrivateKey& key : keys) {
    if (!set.Add(key.public_key()).ok()) return 1;
    jwks.Add(token::JwkToJson(key.public_key().ToJwk()));
  }
  jwks.Add(set.ToJwksJson());
  jwks.Add(R"({"keys":[]})");
  json.Add(set.ToJwksJson());

  const std::string claims = ClaimsJson("");
  const std::vector<std::string> claim_variants = {
      claims, ClaimsJson(R"(,"ext":[[{"a":"\u00e9\ud83d\ude00"}]])"),
      ClaimsJson(R"(,"x":-0.5e+10)"), ClaimsJson(R"(,"y":null,"z":true)")};
  for (const std::string& c : claim_variants) {
    json.Add(c);
    jwt.Add(Prefixed(kSignHere,
                     HeaderFor("ES256", kEs256Kid) + std::string(1, '\0') + c));
    jwt.Add(Prefixed(kSignHere | kSignWithEdDsa,
                     HeaderFor("EdDSA", kEdDsaKid) + std::string(1, '\0') + c));
  }
  json.Add(HeaderFor("ES256", kEs256Kid));
  for (const PrivateKey& key : keys) {
    // Signed with keys the fuzzer does not hold: well-formed tokens that
    // reach the signature check.
    absl::StatusOr<std::string> token =
        token::JwtSigner(key).Sign(SampleClaims());
    if (!token.ok()) return 1;
    AddCompactJws(*token, jwt, base64url);
  }
  base64url.Add("");
  base64url.Add("AA");
  base64url.Add("-_8");

  sigil::v1::RevocationEvent event;
  event.set_seq(7);
  event.set_scope(sigil::v1::SUBJECT_SYSTEM);
  event.set_subject("user-1");
  event.set_system(kAudience);
  event.mutable_not_before()->set_seconds(kNow);
  event.mutable_expires_at()->set_seconds(kNow + 300);
  wire.Add(Prefixed(0, event.SerializeAsString()));
  sigil::v1::Claims message;
  message.set_issuer(kIssuer);
  message.add_audience(kAudience);
  message.mutable_issued_at()->set_seconds(kNow);
  message.set_issued_at_us(kNow * 1'000'000);
  wire.Add(Prefixed(1, message.SerializeAsString()));
  wire.Add(Prefixed(2, std::string("\x08\x00\x00\x00", 4) + "message"));
  wire.Add(Prefixed(3, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));

  if (vectors != nullptr) AddVectors(vectors, json, base64url, jwt, jwks);
  return 0;
}

}  // namespace
}  // namespace sigil::fuzz

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: " << argv[0] << " OUT_DIR [VECTORS_DIR]\n";
    return 2;
  }
  return sigil::fuzz::Run(argv[1], argc == 3 ? argv[2] : nullptr);
}
