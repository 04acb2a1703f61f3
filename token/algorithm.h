#ifndef SIGIL_TOKEN_ALGORITHM_H_
#define SIGIL_TOKEN_ALGORITHM_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigil::token {

// The JWS algorithms Sigil signs and verifies with. There is deliberately no
// "none" and no HMAC (RFC 8725 section 3.1).
enum class Algorithm { kES256, kEdDSA, kRS256 };

// "ES256", "EdDSA" or "RS256".
absl::string_view AlgorithmName(Algorithm alg);

// Exact, case-sensitive match of a JWS "alg" value; every other value is
// UNSUPPORTED_ALGORITHM (a VerdictError).
absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view name);

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_ALGORITHM_H_
