#include "server/refresh_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "server/random_id.h"

namespace sigil::server {
namespace {

constexpr size_t kTokenBytes = 32;
constexpr size_t kTokenChars = 43;  // unpadded base64url of 32 bytes

std::string Encode(const unsigned char* bytes, size_t size) {
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes), size));
}

}  // namespace

std::string NewRefreshToken() {
  unsigned char bytes[kTokenBytes];
  RandomBytes(bytes, sizeof(bytes));
  return Encode(bytes, sizeof(bytes));
}

std::string SuccessorOf(absl::string_view secret, absl::string_view token) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(token.data()), token.size(),
           mac, &size) == nullptr) {
    std::abort();
  }
  return Encode(mac, size);
}

std::string RefreshTokenHash(absl::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool LooksLikeRefreshToken(absl::string_view token) {
  return token.size() == kTokenChars &&
         std::all_of(token.begin(), token.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                  c == '-' || c == '_';
         });
}

}  // namespace sigil::server
