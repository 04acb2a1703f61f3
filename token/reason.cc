#include "token/reason.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"

namespace sigil::token {
namespace {

constexpr absl::string_view kReasonTypeUrl =
    "type.sigil.dev/sigil.token.Reason";

struct ReasonInfo {
  Reason reason;
  absl::string_view name;
};

// Indexed by the enum value; ReasonName checks the order.
constexpr ReasonInfo kReasons[] = {
    {Reason::kValid, "VALID"},
    {Reason::kMalformed, "MALFORMED"},
    {Reason::kTokenTooLarge, "TOKEN_TOO_LARGE"},
    {Reason::kUnsupportedAlgorithm, "UNSUPPORTED_ALGORITHM"},
    {Reason::kForbiddenHeader, "FORBIDDEN_HEADER"},
    {Reason::kWrongTokenType, "WRONG_TOKEN_TYPE"},
    {Reason::kUnknownKey, "UNKNOWN_KEY"},
    {Reason::kAlgorithmMismatch, "ALGORITHM_MISMATCH"},
    {Reason::kBadSignature, "BAD_SIGNATURE"},
    {Reason::kExpired, "EXPIRED"},
    {Reason::kNotYetValid, "NOT_YET_VALID"},
    {Reason::kWrongIssuer, "WRONG_ISSUER"},
    {Reason::kWrongAudience, "WRONG_AUDIENCE"},
    {Reason::kTokenRevoked, "TOKEN_REVOKED"},
    {Reason::kSessionRevoked, "SESSION_REVOKED"},
    {Reason::kLoggedOut, "LOGGED_OUT"},
    {Reason::kLoggedOutAll, "LOGGED_OUT_ALL"},
    {Reason::kLoggedOutOfSystem, "LOGGED_OUT_OF_SYSTEM"},
    {Reason::kInsufficientScope, "INSUFFICIENT_SCOPE"},
};

constexpr bool ReasonTableInEnumOrder() {
  for (size_t i = 0; i < sizeof(kReasons) / sizeof(kReasons[0]); ++i) {
    if (static_cast<size_t>(kReasons[i].reason) != i) return false;
  }
  return true;
}
static_assert(ReasonTableInEnumOrder(), "kReasons must follow enum Reason");
static_assert(sizeof(kReasons) / sizeof(kReasons[0]) ==
                  static_cast<size_t>(Reason::kInsufficientScope) + 1,
              "kReasons must name every Reason");

std::optional<Reason> ReasonFromName(absl::string_view name) {
  for (const ReasonInfo& info : kReasons) {
    if (info.name == name) return info.reason;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusCode CodeOf(Reason reason) {
  switch (reason) {
    case Reason::kValid:
      return absl::StatusCode::kOk;
    case Reason::kLoggedOutOfSystem:
    case Reason::kInsufficientScope:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kUnauthenticated;
  }
}

absl::string_view ReasonName(Reason reason) {
  return kReasons[static_cast<size_t>(reason)].name;
}

absl::Status VerdictError(Reason reason, absl::string_view message) {
  if (reason == Reason::kValid) {
    // A status cannot be OK and carry a payload; fail closed rather than
    // turn a caller's mistake into an accepted token.
    return absl::InternalError("verdict error without a failure reason");
  }
  absl::Status status(CodeOf(reason), message);
  status.SetPayload(kReasonTypeUrl, absl::Cord(ReasonName(reason)));
  return status;
}

Reason ReasonOf(const absl::Status& status) {
  if (status.ok()) return Reason::kValid;
  auto payload = status.GetPayload(kReasonTypeUrl);
  if (!payload.has_value()) return Reason::kMalformed;
  std::optional<Reason> reason = ReasonFromName(std::string(*payload));
  // A failed status never means "valid", whatever its payload says.
  if (!reason.has_value() || *reason == Reason::kValid) {
    return Reason::kMalformed;
  }
  return *reason;
}

bool IsVerdict(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnauthenticated ||
         status.code() == absl::StatusCode::kPermissionDenied;
}

}  // namespace sigil::token
