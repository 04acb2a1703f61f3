#ifndef SIGIL_TOKEN_REASON_H_
#define SIGIL_TOKEN_REASON_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sigil::token {

// Why a token is or is not accepted. Names and meanings match
// sigil.v1.Reason; each reason maps to exactly one status code (CodeOf).
enum class Reason {
  kValid,
  kMalformed,
  kTokenTooLarge,
  kUnsupportedAlgorithm,
  kForbiddenHeader,
  kWrongTokenType,
  kUnknownKey,
  kAlgorithmMismatch,
  kBadSignature,
  kExpired,
  kNotYetValid,
  kWrongIssuer,
  kWrongAudience,
  kTokenRevoked,
  kSessionRevoked,
  kLoggedOut,
  kLoggedOutAll,
  kLoggedOutOfSystem,
  kInsufficientScope,
};

// kOk for kValid, kPermissionDenied for kLoggedOutOfSystem and
// kInsufficientScope, kUnauthenticated for every other reason.
absl::StatusCode CodeOf(Reason reason);

// The sigil.v1.Reason enum name, e.g. "BAD_SIGNATURE".
absl::string_view ReasonName(Reason reason);

// A non-OK status with code CodeOf(reason) that carries `reason` as a
// payload. `reason` must not be kValid.
absl::Status VerdictError(Reason reason, absl::string_view message);

// kValid for an OK status; the carried reason for a VerdictError; kMalformed
// for any other status.
Reason ReasonOf(const absl::Status& status);

// Whether a failed `status` judges the token (UNAUTHENTICATED or
// PERMISSION_DENIED, the codes a VerdictError carries) rather than the
// verifier: a failure of any other code (a bad request, a storage error)
// is the verifier's own and must never be reported as a token's verdict.
bool IsVerdict(const absl::Status& status);

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_REASON_H_
