#include "token/key_set.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace sigil::token {
namespace {

// A key set holds a few public keys; 1 MiB leaves room for many RSA-8192
// keys while bounding what a hostile document can make the parser do.
// Depth 4 is {"keys":[{"key_ops":[...]}]}.
constexpr JsonLimits kJwksLimits{1024 * 1024, 4};
constexpr JsonLimits kJwkLimits{64 * 1024, 3};

struct StringMember {
  absl::string_view name;
  std::string Jwk::*field;
};

constexpr StringMember kStringMembers[] = {
    {"kty", &Jwk::kty}, {"kid", &Jwk::kid}, {"alg", &Jwk::alg},
    {"use", &Jwk::use}, {"crv", &Jwk::crv}, {"x", &Jwk::x},
    {"y", &Jwk::y},     {"n", &Jwk::n},     {"e", &Jwk::e},
};

absl::Status CheckKeyOps(const JsonValue& key_ops) {
  if (!key_ops.is_array()) {
    return absl::InvalidArgumentError("jwk key_ops is not an array");
  }
  bool verify = false;
  for (const JsonValue& op : key_ops.items()) {
    if (!op.is_string()) {
      return absl::InvalidArgumentError("jwk key_ops holds a non-string");
    }
    verify = verify || op.string_value() == "verify";
  }
  if (!verify) {
    return absl::InvalidArgumentError("jwk key_ops does not allow verify");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Jwk> JwkFromJson(const JsonValue& value) {
  if (!value.is_object())
    return absl::InvalidArgumentError("jwk is not an object");
  Jwk jwk;
  for (const StringMember& member : kStringMembers) {
    const JsonValue* v = value.Find(member.name);
    if (v == nullptr) continue;
    if (!v->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("jwk ", member.name, " is not a string"));
    }
    jwk.*member.field = v->string_value();
  }
  if (jwk.kty.empty()) return absl::InvalidArgumentError("jwk kty is missing");
  if (const JsonValue* key_ops = value.Find("key_ops"); key_ops != nullptr) {
    absl::Status ops = CheckKeyOps(*key_ops);
    if (!ops.ok()) return ops;
  }
  return jwk;
}

absl::StatusOr<Jwk> ParseJwk(absl::string_view json) {
  absl::StatusOr<JsonValue> value = ParseJson(json, kJwkLimits);
  if (!value.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwk is not strict json: ", value.status().message()));
  }
  return JwkFromJson(*value);
}

JsonValue JwkToJsonValue(const Jwk& jwk) {
  std::vector<JsonValue::Member> members;
  for (const StringMember& member : kStringMembers) {
    const std::string& v = jwk.*member.field;
    if (!v.empty()) {
      members.emplace_back(std::string(member.name), JsonValue::String(v));
    }
  }
  return JsonValue::Object(std::move(members));
}

std::string JwkToJson(const Jwk& jwk) {
  return JwkToJsonValue(jwk).Serialize();
}

absl::Status KeySet::Add(PublicKey key) {
  if (key.kid().empty()) return absl::InvalidArgumentError("key has no kid");
  if (Find(key.kid()) != nullptr) {
    return absl::InvalidArgumentError("duplicate kid");
  }
  keys_.push_back(std::move(key));
  return absl::OkStatus();
}

const PublicKey* KeySet::Find(absl::string_view kid) const {
  for (const PublicKey& key : keys_) {
    if (key.kid() == kid) return &key;
  }
  return nullptr;
}

std::string KeySet::ToJwksJson() const {
  std::vector<JsonValue> keys;
  keys.reserve(keys_.size());
  for (const PublicKey& key : keys_)
    keys.push_back(JwkToJsonValue(key.ToJwk()));
  std::vector<JsonValue::Member> members;
  members.emplace_back("keys", JsonValue::Array(std::move(keys)));
  return JsonValue::Object(std::move(members)).Serialize();
}

absl::StatusOr<KeySet> KeySet::FromJwksJson(absl::string_view json) {
  absl::StatusOr<JsonValue> doc = ParseJson(json, kJwksLimits);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwks is not strict json: ", doc.status().message()));
  }
  const JsonValue* keys = doc->is_object() ? doc->Find("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) {
    return absl::InvalidArgumentError("jwks has no keys array");
  }
  KeySet set;
  for (size_t i = 0; i < keys->items().size(); ++i) {
    absl::StatusOr<Jwk> jwk = JwkFromJson(keys->items()[i]);
    absl::Status status = jwk.status();
    if (status.ok() && jwk->kid.empty()) {
      status = absl::InvalidArgumentError("jwk kid is missing");
    }
    if (status.ok() && jwk->alg.empty()) {
      status = absl::InvalidArgumentError("jwk alg is missing");
    }
    if (status.ok()) {
      absl::StatusOr<PublicKey> key = PublicKey::FromJwk(*jwk);
      status = key.ok() ? set.Add(*std::move(key)) : key.status();
    }
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("jwks key ", i, ": ", status.message()));
    }
  }
  return set;
}

}  // namespace sigil::token
