// JWK Set and single JWK loading on arbitrary bytes. A key set that loads
// exports to JSON that loads again into the same kids and algorithms; a
// single JWK that imports exports to a JWK that imports again.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "token/key.h"
#include "token/key_set.h"

namespace sigil::token {
namespace {

void CheckKeySet(absl::string_view text) {
  absl::StatusOr<KeySet> set = KeySet::FromJwksJson(text);
  if (!set.ok()) return;
  absl::StatusOr<KeySet> again = KeySet::FromJwksJson(set->ToJwksJson());
  if (!again.ok() || again->keys().size() != set->keys().size()) std::abort();
  for (size_t i = 0; i < set->keys().size(); ++i) {
    const PublicKey& a = set->keys()[i];
    const PublicKey& b = again->keys()[i];
    if (a.kid() != b.kid() || a.algorithm() != b.algorithm() ||
        set->Find(a.kid()) != &a) {
      std::abort();
    }
  }
}

void CheckJwk(absl::string_view text) {
  absl::StatusOr<Jwk> jwk = ParseJwk(text);
  if (!jwk.ok()) return;
  absl::StatusOr<PublicKey> key = PublicKey::FromJwk(*jwk);
  if (!key.ok()) return;
  const Jwk exported = key->ToJwk();
  absl::StatusOr<PublicKey> again = PublicKey::FromJwk(exported);
  if (!again.ok() || again->ToJwk().x != exported.x ||
      again->ToJwk().y != exported.y || again->ToJwk().n != exported.n ||
      again->ToJwk().e != exported.e) {
    std::abort();
  }
}

}  // namespace
}  // namespace sigil::token

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  sigil::token::CheckKeySet(text);
  sigil::token::CheckJwk(text);
  return 0;
}
