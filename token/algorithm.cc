#include "token/algorithm.h"

#include "token/reason.h"

namespace sigil::token {

absl::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256:
      return "ES256";
    case Algorithm::kEdDSA:
      return "EdDSA";
    case Algorithm::kRS256:
      return "RS256";
  }
  return "";
}

absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view name) {
  for (Algorithm alg :
       {Algorithm::kES256, Algorithm::kEdDSA, Algorithm::kRS256}) {
    if (name == AlgorithmName(alg)) return alg;
  }
  return VerdictError(Reason::kUnsupportedAlgorithm, "unsupported algorithm");
}

}  // namespace sigil::token
