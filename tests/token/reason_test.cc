#include "token/reason.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/algorithm.h"

namespace sigil::token {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::Not;

struct ReasonCase {
  Reason reason;
  const char* name;
  absl::StatusCode code;
};

// Names are the sigil.v1.Reason enum names: clients and logs match on them.
constexpr ReasonCase kReasonCases[] = {
    {Reason::kValid, "VALID", absl::StatusCode::kOk},
    {Reason::kMalformed, "MALFORMED", absl::StatusCode::kUnauthenticated},
    {Reason::kTokenTooLarge, "TOKEN_TOO_LARGE",
     absl::StatusCode::kUnauthenticated},
    {Reason::kUnsupportedAlgorithm, "UNSUPPORTED_ALGORITHM",
     absl::StatusCode::kUnauthenticated},
    {Reason::kForbiddenHeader, "FORBIDDEN_HEADER",
     absl::StatusCode::kUnauthenticated},
    {Reason::kWrongTokenType, "WRONG_TOKEN_TYPE",
     absl::StatusCode::kUnauthenticated},
    {Reason::kUnknownKey, "UNKNOWN_KEY", absl::StatusCode::kUnauthenticated},
    {Reason::kAlgorithmMismatch, "ALGORITHM_MISMATCH",
     absl::StatusCode::kUnauthenticated},
    {Reason::kBadSignature, "BAD_SIGNATURE",
     absl::StatusCode::kUnauthenticated},
    {Reason::kExpired, "EXPIRED", absl::StatusCode::kUnauthenticated},
    {Reason::kNotYetValid, "NOT_YET_VALID", absl::StatusCode::kUnauthenticated},
    {Reason::kWrongIssuer, "WRONG_ISSUER", absl::StatusCode::kUnauthenticated},
    {Reason::kWrongAudience, "WRONG_AUDIENCE",
     absl::StatusCode::kUnauthenticated},
    {Reason::kTokenRevoked, "TOKEN_REVOKED",
     absl::StatusCode::kUnauthenticated},
    {Reason::kSessionRevoked, "SESSION_REVOKED",
     absl::StatusCode::kUnauthenticated},
    {Reason::kLoggedOut, "LOGGED_OUT", absl::StatusCode::kUnauthenticated},
    {Reason::kLoggedOutAll, "LOGGED_OUT_ALL",
     absl::StatusCode::kUnauthenticated},
    {Reason::kLoggedOutOfSystem, "LOGGED_OUT_OF_SYSTEM",
     absl::StatusCode::kPermissionDenied},
    {Reason::kInsufficientScope, "INSUFFICIENT_SCOPE",
     absl::StatusCode::kPermissionDenied},
};

TEST(ReasonTest, NamesAndCodes) {
  for (const ReasonCase& c : kReasonCases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(ReasonName(c.reason), c.name);
    EXPECT_EQ(CodeOf(c.reason), c.code);
  }
}

TEST(ReasonTest, VerdictErrorCarriesReason) {
  for (const ReasonCase& c : kReasonCases) {
    if (c.reason == Reason::kValid) continue;
    SCOPED_TRACE(c.name);
    absl::Status status = VerdictError(c.reason, "some message");
    EXPECT_THAT(status, StatusIs(c.code, "some message"));
    EXPECT_EQ(ReasonOf(status), c.reason);
  }
}

TEST(ReasonTest, VerdictErrorSurvivesCopyAndWrapping) {
  absl::Status original = VerdictError(Reason::kExpired, "token expired");
  absl::Status copy = original;
  EXPECT_EQ(ReasonOf(copy), Reason::kExpired);
  absl::StatusOr<int> wrapped = original;
  EXPECT_EQ(ReasonOf(wrapped.status()), Reason::kExpired);
}

TEST(ReasonTest, VerdictErrorForValidFailsClosed) {
  absl::Status status = VerdictError(Reason::kValid, "oops");
  EXPECT_THAT(status, Not(IsOk()));
  EXPECT_EQ(ReasonOf(status), Reason::kMalformed);
}

TEST(ReasonTest, ReasonOfOtherStatuses) {
  absl::Status forged_valid = absl::UnauthenticatedError("forged");
  forged_valid.SetPayload("type.sigil.dev/sigil.token.Reason",
                          absl::Cord("VALID"));
  absl::Status garbage = absl::UnauthenticatedError("garbage");
  garbage.SetPayload("type.sigil.dev/sigil.token.Reason",
                     absl::Cord("NOT_A_REASON"));
  absl::Status other_url = absl::UnauthenticatedError("other url");
  other_url.SetPayload("type.example.com/Other", absl::Cord("EXPIRED"));

  const struct {
    const char* name;
    absl::Status status;
    Reason want;
  } cases[] = {
      {"ok", absl::OkStatus(), Reason::kValid},
      {"plain internal", absl::InternalError("boom"), Reason::kMalformed},
      {"plain unauthenticated", absl::UnauthenticatedError("no"),
       Reason::kMalformed},
      {"payload VALID on an error", forged_valid, Reason::kMalformed},
      {"unknown payload", garbage, Reason::kMalformed},
      {"payload under another type url", other_url, Reason::kMalformed},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(ReasonOf(c.status), c.want);
  }
}

TEST(AlgorithmTest, ParsesExactNames) {
  const struct {
    const char* name;
    Algorithm alg;
  } cases[] = {
      {"ES256", Algorithm::kES256},
      {"EdDSA", Algorithm::kEdDSA},
      {"RS256", Algorithm::kRS256},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Algorithm> alg = ParseAlgorithm(c.name);
    ASSERT_THAT(alg, IsOk());
    EXPECT_EQ(*alg, c.alg);
    EXPECT_EQ(AlgorithmName(c.alg), c.name);
  }
}

TEST(AlgorithmTest, RejectsEverythingElse) {
  const std::string cases[] = {
      "",       "none",
      "None",   "NONE",
      "nOnE",   "HS256",
      "HS384",  "HS512",
      "es256",  "ES256 ",
      " ES256", "EDDSA",
      "eddsa",  "Ed25519",
      "rs256",  "RS384",
      "RS512",  "PS256",
      "ES384",  "ES512",
      "ES256K", std::string("ES256\0", 6),
  };
  for (const std::string& name : cases) {
    SCOPED_TRACE("alg \"" + name + "\"");
    absl::StatusOr<Algorithm> alg = ParseAlgorithm(name);
    EXPECT_THAT(alg, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_EQ(ReasonOf(alg.status()), Reason::kUnsupportedAlgorithm);
  }
}

}  // namespace
}  // namespace sigil::token
