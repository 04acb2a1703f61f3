#ifndef SIGIL_TOKEN_BASE64URL_H_
#define SIGIL_TOKEN_BASE64URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigil::token {

// RFC 4648 section 5 without padding, as JOSE uses it.
std::string Base64UrlEncode(absl::string_view data);

// Strict decoding: only [A-Za-z0-9_-], no '=' padding, no whitespace, no
// length of 1 mod 4, and unused trailing bits must be zero, so every input
// has exactly one accepted spelling. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_BASE64URL_H_
