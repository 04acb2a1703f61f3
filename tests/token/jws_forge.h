#ifndef SIGIL_TESTS_TOKEN_JWS_FORGE_H_
#define SIGIL_TESTS_TOKEN_JWS_FORGE_H_

// Hand-built compact JWS for the token library's tests: headers and claims
// written as raw JSON member text, so that a row can hold what no
// serializer writes (duplicate members, invalid UTF-8, odd numbers), signed
// by whichever key the row names whatever its header says.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "token/key.h"
#include "token/key_set.h"

namespace sigil::token {

struct TestKeys {
  PrivateKey es256;
  PrivateKey eddsa;
  PrivateKey rs256;
  PrivateKey attacker;  // ES256, under no kid of the set
  KeySet set;           // es256, eddsa and rs256
};

// Generated once per binary (RSA generation is slow). Thread-safe.
const TestKeys& Keys();

// JSON members: a name and its value's raw JSON text. Names are written
// unescaped.
using Members = std::vector<std::pair<std::string, std::string>>;

std::string Str(absl::string_view s);  // a JSON string
std::string Num(int64_t n);            // a JSON integer
std::string Obj(const Members& members);

// `members` with `name` set to `raw`, in place if present, else appended.
Members With(Members members, absl::string_view name, std::string raw);
Members Without(Members members, absl::string_view name);
// `members` with one more `name`, even if it is there already.
Members Plus(Members members, absl::string_view name, std::string raw);

// {"alg", "kid", "typ":"at+jwt"} for `key`.
Members HeaderFor(const PrivateKey& key);
Members EsHeader();

std::string B64(absl::string_view s);
// header.payload.signature over the JSON texts, signed by `key`.
std::string SignedText(absl::string_view header, absl::string_view payload,
                       const PrivateKey& key);
std::string Signed(const Members& header, const Members& claims,
                   const PrivateKey& key);
std::string Signed(const Members& header, const Members& claims);  // es256

}  // namespace sigil::token

#endif  // SIGIL_TESTS_TOKEN_JWS_FORGE_H_
