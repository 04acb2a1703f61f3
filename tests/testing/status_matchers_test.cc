#include "tests/testing/status_matchers.h"

#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace sigil::testing {
namespace {

using ::testing::DescribeMatcher;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Matcher;
using ::testing::Not;
using ::testing::Pointee;

// Whether `matcher` accepts `value`, and what it said about it.
struct Verdict {
  bool matched;
  std::string explanation;
};

template <typename T, typename M>
Verdict Judge(const M& matcher, const T& value) {
  const Matcher<const T&> typed = matcher;
  ::testing::StringMatchResultListener listener;
  const bool matched = typed.MatchAndExplain(value, &listener);
  return {matched, listener.str()};
}

TEST(IsOkTest, AcceptsOkStatusAndStatusOrWithAValue) {
  EXPECT_TRUE(Judge(IsOk(), absl::OkStatus()).matched);
  EXPECT_TRUE(Judge(IsOk(), absl::StatusOr<int>(7)).matched);
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(absl::StatusOr<std::string>("x"), IsOk());
}

TEST(IsOkTest, RefusesAnErrorAndExplainsWithCodeAndMessage) {
  const Verdict status = Judge(IsOk(), absl::InvalidArgumentError("bad kid"));
  EXPECT_FALSE(status.matched);
  EXPECT_EQ(status.explanation, "which has status INVALID_ARGUMENT: bad kid");

  const Verdict status_or =
      Judge(IsOk(), absl::StatusOr<int>(absl::NotFoundError("no such key")));
  EXPECT_FALSE(status_or.matched);
  EXPECT_EQ(status_or.explanation, "which has status NOT_FOUND: no such key");
}

TEST(IsOkTest, NegationSaysTheStatusWasOk) {
  EXPECT_THAT(absl::InternalError("x"), Not(IsOk()));
  const Verdict verdict = Judge(Not(IsOk()), absl::OkStatus());
  EXPECT_FALSE(verdict.matched);
  EXPECT_EQ(verdict.explanation, "which has status OK");
}

TEST(IsOkTest, Describes) {
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk()), "is OK");
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk(), /*negation=*/true),
            "is not OK");
}

TEST(IsOkTest, FailedAssertionsPrintTheStatus) {
  const absl::Status status = absl::UnavailableError("authority is down");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(status, IsOk()),
                          "which has status UNAVAILABLE: authority is down");
  const absl::StatusOr<int> status_or = absl::DataLossError("torn write");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(status_or, IsOk()),
                          "which has status DATA_LOSS: torn write");
  // ASSERT_THAT stops the test: checked through a literal, since
  // EXPECT_FATAL_FAILURE's statement cannot see locals.
  EXPECT_FATAL_FAILURE(
      ASSERT_THAT(absl::StatusOr<int>(absl::AbortedError("raced")), IsOk()),
      "which has status ABORTED: raced");
}

TEST(StatusIsTest, MatchesTheCode) {
  EXPECT_THAT(absl::NotFoundError("gone"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(absl::StatusOr<int>(absl::NotFoundError("gone")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(absl::OkStatus(), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(absl::StatusOr<int>(3), StatusIs(absl::StatusCode::kOk));

  const Verdict wrong_code = Judge(StatusIs(absl::StatusCode::kNotFound),
                                   absl::PermissionDeniedError("not yours"));
  EXPECT_FALSE(wrong_code.matched);
  EXPECT_EQ(wrong_code.explanation,
            "which has status PERMISSION_DENIED: not yours");

  const Verdict ok =
      Judge(StatusIs(absl::StatusCode::kNotFound), absl::StatusOr<int>(3));
  EXPECT_FALSE(ok.matched);
  EXPECT_EQ(ok.explanation, "which has status OK");
}

TEST(StatusIsTest, MatchesTheMessage) {
  const absl::Status status = absl::InvalidArgumentError("kid is too long");
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument, "kid is too long"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("too long")));
  EXPECT_THAT(status, Not(StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("too short"))));
  // The right message does not make up for the wrong code.
  EXPECT_THAT(status,
              Not(StatusIs(absl::StatusCode::kNotFound, "kid is too long")));

  const Verdict wrong_message = Judge(
      StatusIs(absl::StatusCode::kInvalidArgument, Eq("kid is empty")), status);
  EXPECT_FALSE(wrong_message.matched);
  EXPECT_THAT(wrong_message.explanation,
              HasSubstr("which has status INVALID_ARGUMENT: kid is too long"));
}

TEST(StatusIsTest, Describes) {
  EXPECT_EQ(
      DescribeMatcher<absl::Status>(StatusIs(absl::StatusCode::kNotFound)),
      "has status code NOT_FOUND");
  EXPECT_EQ(DescribeMatcher<absl::StatusOr<int>>(
                StatusIs(absl::StatusCode::kNotFound), true),
            "does not have status code NOT_FOUND");
  EXPECT_EQ(DescribeMatcher<absl::Status>(
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("kid"))),
            "has status code NOT_FOUND and a message that has substring "
            "\"kid\"");
  EXPECT_EQ(DescribeMatcher<absl::Status>(
                StatusIs(absl::StatusCode::kNotFound, "kid"), true),
            "does not have status code NOT_FOUND, or has a message that "
            "isn't equal to \"kid\"");
}

TEST(StatusIsTest, FailedAssertionsPrintTheStatus) {
  const absl::StatusOr<std::string> status_or =
      absl::ResourceExhaustedError("cache full");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(status_or, StatusIs(absl::StatusCode::kNotFound)),
      "which has status RESOURCE_EXHAUSTED: cache full");
}

TEST(GrpcStatusTest, IsOkAndStatusIsTakeAGrpcStatus) {
  EXPECT_THAT(grpc::Status::OK, IsOk());
  const grpc::Status denied(grpc::StatusCode::PERMISSION_DENIED, "not yours");
  EXPECT_THAT(denied, Not(IsOk()));
  EXPECT_THAT(denied,
              StatusIs(absl::StatusCode::kPermissionDenied, "not yours"));

  const Verdict verdict = Judge(IsOk(), denied);
  EXPECT_FALSE(verdict.matched);
  EXPECT_EQ(verdict.explanation,
            "which has status PERMISSION_DENIED: not yours");
}

TEST(GrpcStatusTest, EveryCanonicalCodeKeepsItsNumber) {
  // gRPC numbers the canonical codes as Abseil does.
  for (int code = 0; code <= 16; ++code) {
    SCOPED_TRACE(code);
    const grpc::Status status(static_cast<grpc::StatusCode>(code), "m");
    EXPECT_THAT(status, StatusIs(static_cast<absl::StatusCode>(code)));
  }
  EXPECT_THAT(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, ""),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST(IsOkAndHoldsTest, MatchesTheValue) {
  EXPECT_THAT(absl::StatusOr<int>(42), IsOkAndHolds(42));
  EXPECT_THAT(absl::StatusOr<std::string>("abc"), IsOkAndHolds(HasSubstr("b")));
  EXPECT_THAT(absl::StatusOr<int>(42), Not(IsOkAndHolds(41)));
  // A value the test cannot copy.
  EXPECT_THAT(absl::StatusOr<std::unique_ptr<int>>(std::make_unique<int>(5)),
              IsOkAndHolds(Pointee(5)));
}

TEST(IsOkAndHoldsTest, ExplainsAWrongValueAndAnError) {
  const Verdict wrong_value =
      Judge(IsOkAndHolds(Eq(41)), absl::StatusOr<int>(42));
  EXPECT_FALSE(wrong_value.matched);
  EXPECT_EQ(wrong_value.explanation, "which is OK and holds 42");

  const Verdict error =
      Judge(IsOkAndHolds(42), absl::StatusOr<int>(absl::CancelledError("bye")));
  EXPECT_FALSE(error.matched);
  EXPECT_EQ(error.explanation, "which has status CANCELLED: bye");

  const absl::StatusOr<int> failed = absl::UnknownError("lost");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(failed, IsOkAndHolds(1)),
                          "which has status UNKNOWN: lost");
}

TEST(IsOkAndHoldsTest, Describes) {
  EXPECT_EQ(DescribeMatcher<absl::StatusOr<int>>(IsOkAndHolds(3)),
            "is OK and holds a value that is equal to 3");
  EXPECT_EQ(DescribeMatcher<absl::StatusOr<int>>(IsOkAndHolds(3), true),
            "is not OK, or holds a value that isn't equal to 3");
}

}  // namespace
}  // namespace sigil::testing
