#include "tests/token/jws_forge.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "token/algorithm.h"
#include "token/base64url.h"
#include "token/json.h"

namespace sigil::token {

const TestKeys& Keys() {
  static const TestKeys* keys = [] {
    auto* k = new TestKeys{
        *PrivateKey::Generate(Algorithm::kES256, "es256-key"),
        *PrivateKey::Generate(Algorithm::kEdDSA, "eddsa-key"),
        *PrivateKey::Generate(Algorithm::kRS256, "rs256-key"),
        *PrivateKey::Generate(Algorithm::kES256, "attacker-key"), KeySet()};
    for (const PrivateKey* key : {&k->es256, &k->eddsa, &k->rs256}) {
      if (!k->set.Add(key->public_key()).ok()) std::abort();
    }
    return k;
  }();
  return *keys;
}

std::string Str(absl::string_view s) {
  return JsonValue::String(std::string(s)).Serialize();
}

std::string Num(int64_t n) { return absl::StrCat(n); }

std::string Obj(const Members& members) {
  std::vector<std::string> parts;
  for (const auto& [name, raw] : members) {
    parts.push_back(absl::StrCat("\"", name, "\":", raw));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

Members With(Members members, absl::string_view name, std::string raw) {
  for (auto& member : members) {
    if (member.first == name) {
      member.second = std::move(raw);
      return members;
    }
  }
  members.emplace_back(std::string(name), std::move(raw));
  return members;
}

Members Without(Members members, absl::string_view name) {
  members.erase(std::remove_if(members.begin(), members.end(),
                               [&](const auto& m) { return m.first == name; }),
                members.end());
  return members;
}

Members Plus(Members members, absl::string_view name, std::string raw) {
  members.emplace_back(std::string(name), std::move(raw));
  return members;
}

Members HeaderFor(const PrivateKey& key) {
  return {{"alg", Str(AlgorithmName(key.algorithm()))},
          {"kid", Str(key.kid())},
          {"typ", Str("at+jwt")}};
}

Members EsHeader() { return HeaderFor(Keys().es256); }

std::string B64(absl::string_view s) { return Base64UrlEncode(s); }

std::string SignedText(absl::string_view header, absl::string_view payload,
                       const PrivateKey& key) {
  const std::string input = absl::StrCat(B64(header), ".", B64(payload));
  absl::StatusOr<std::string> signature = key.Sign(input);
  if (!signature.ok()) std::abort();
  return absl::StrCat(input, ".", B64(*signature));
}

std::string Signed(const Members& header, const Members& claims,
                   const PrivateKey& key) {
  return SignedText(Obj(header), Obj(claims), key);
}

std::string Signed(const Members& header, const Members& claims) {
  return Signed(header, claims, Keys().es256);
}

}  // namespace sigil::token
