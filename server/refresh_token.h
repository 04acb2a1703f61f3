#ifndef SIGIL_SERVER_REFRESH_TOKEN_H_
#define SIGIL_SERVER_REFRESH_TOKEN_H_

#include <string>

#include "absl/strings/string_view.h"

namespace sigil::server {

// Refresh tokens are 256 random bits as unpadded base64url (43 characters).
// The authority stores only their SHA-256, so its store leaks no usable
// token.

// A fresh token from the CSPRNG; also used for a session's refresh secret.
std::string NewRefreshToken();

// The token that replaces `token` in the session keyed by `secret`: an
// HMAC-SHA256, so a retry of the same refresh gets the same successor while
// no one without the secret can compute it.
std::string SuccessorOf(absl::string_view secret, absl::string_view token);

// Lowercase hex SHA-256 of the token text: its key in the store.
std::string RefreshTokenHash(absl::string_view token);

// Shape only: 43 base64url characters. Anything else is no refresh token.
bool LooksLikeRefreshToken(absl::string_view token);

}  // namespace sigil::server

#endif  // SIGIL_SERVER_REFRESH_TOKEN_H_
