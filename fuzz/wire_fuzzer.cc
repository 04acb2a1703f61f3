// The conversions between sigil.v1 messages and the token library's types,
// on messages parsed from arbitrary bytes, and the refresh token shape
// check. The first input byte picks which; the rest is the input. A
// converted value converts back and forth without change.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "server/refresh_token.h"
#include "sigil/v1/identity.pb.h"
#include "token/jwt.h"
#include "token/revocation_index.h"
#include "wire/claims.h"
#include "wire/revocation_event.h"
#include "wire/verdict.h"

namespace sigil::wire {
namespace {

bool SameRevocation(const token::Revocation& a, const token::Revocation& b) {
  return a.seq == b.seq && a.scope == b.scope && a.subject == b.subject &&
         a.system == b.system && a.session_id == b.session_id &&
         a.token_id == b.token_id && a.not_before_us == b.not_before_us &&
         a.expires_at == b.expires_at;
}

bool SameClaims(const token::JwtClaims& a, const token::JwtClaims& b) {
  return a.issuer == b.issuer && a.subject == b.subject &&
         a.audience == b.audience && a.issued_at == b.issued_at &&
         a.expires_at == b.expires_at && a.token_id == b.token_id &&
         a.session_id == b.session_id && a.scopes == b.scopes &&
         a.issued_at_us == b.issued_at_us;
}

void CheckEvent(absl::string_view bytes) {
  sigil::v1::RevocationEvent event;
  if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return;
  }
  std::optional<token::Revocation> revocation = FromEvent(event);
  if (!revocation.has_value()) return;
  std::optional<token::Revocation> again = FromEvent(ToEvent(*revocation));
  if (!again.has_value() || !SameRevocation(*revocation, *again)) std::abort();
}

void CheckClaims(absl::string_view bytes) {
  sigil::v1::Claims message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return;
  }
  std::optional<token::JwtClaims> claims = FromClaims(message);
  if (!claims.has_value()) return;
  std::optional<token::JwtClaims> again = FromClaims(ToClaims(*claims));
  if (!again.has_value() || !SameClaims(*claims, *again)) std::abort();
}

void CheckReason(absl::string_view bytes) {
  if (bytes.size() < 4) return;
  const int32_t value = static_cast<int32_t>(
      static_cast<uint32_t>(static_cast<uint8_t>(bytes[0])) |
      static_cast<uint32_t>(static_cast<uint8_t>(bytes[1])) << 8 |
      static_cast<uint32_t>(static_cast<uint8_t>(bytes[2])) << 16 |
      static_cast<uint32_t>(static_cast<uint8_t>(bytes[3])) << 24);
  std::optional<token::Reason> reason =
      FromReason(static_cast<sigil::v1::Reason>(value));
  if (reason.has_value() &&
      ToVerdict(*reason, bytes.substr(4)).reason() != value) {
    std::abort();
  }
}

void CheckRefreshToken(absl::string_view token) {
  const bool looks = server::LooksLikeRefreshToken(token);
  bool shape = token.size() == 43;
  for (char c : token) {
    shape = shape && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                      c == '-' || c == '_');
  }
  if (looks != shape || server::RefreshTokenHash(token).size() != 64) {
    std::abort();
  }
}

}  // namespace
}  // namespace sigil::wire

// Protobuf logs every string field that is not UTF-8 as it refuses the
// message: expected here, and noise that would slow the run and fill its log.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  switch (data[0] % 4) {
    case 0:
      sigil::wire::CheckEvent(rest);
      break;
    case 1:
      sigil::wire::CheckClaims(rest);
      break;
    case 2:
      sigil::wire::CheckReason(rest);
      break;
    default:
      sigil::wire::CheckRefreshToken(rest);
      break;
  }
  return 0;
}
