#ifndef SIGIL_TESTS_TESTING_STATUS_MATCHERS_H_
#define SIGIL_TESTS_TESTING_STATUS_MATCHERS_H_

// gMock matchers for statuses, which Debian 12's Abseil does not ship:
//
//   ASSERT_THAT(store, IsOk());
//   EXPECT_THAT(Parse(""), StatusIs(absl::StatusCode::kInvalidArgument));
//   EXPECT_THAT(key, StatusIs(absl::StatusCode::kNotFound, HasSubstr("kid")));
//   EXPECT_THAT(Decode("AQ"), IsOkAndHolds(std::string("\x01")));
//
// IsOk and StatusIs take an absl::Status, an absl::StatusOr<T>, or a
// grpc::Status (any type with error_code() and error_message(), so this
// header needs no gRPC); IsOkAndHolds takes an absl::StatusOr<T>. A
// mismatch explains itself with the status's code and message, which
// ASSERT_TRUE(x.ok()) leaves out.

#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace sigil::testing {
namespace internal_status {

// The status a matcher judges, whatever form the value under test has.
inline absl::Status ToStatus(const absl::Status& status) { return status; }

template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// grpc::Status. Its codes are the canonical codes, numbered as
// absl::StatusCode numbers them.
template <
    typename GrpcStatus,
    typename = decltype(std::declval<const GrpcStatus&>().error_code()),
    typename = decltype(std::declval<const GrpcStatus&>().error_message())>
absl::Status ToStatus(const GrpcStatus& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

// "OK", or the code's name and the message ("NOT_FOUND: no such key").
std::string Describe(const absl::Status& status);

class IsOkMatcher {
 public:
  template <typename T>
  bool MatchAndExplain(const T& value,
                       ::testing::MatchResultListener* listener) const {
    return MatchStatus(ToStatus(value), listener);
  }
  void DescribeTo(std::ostream* os) const;
  void DescribeNegationTo(std::ostream* os) const;

 private:
  static bool MatchStatus(const absl::Status& status,
                          ::testing::MatchResultListener* listener);
};

class StatusIsMatcher {
 public:
  // Without a message matcher any message goes.
  StatusIsMatcher(absl::StatusCode code,
                  std::optional<::testing::Matcher<const std::string&>> message)
      : code_(code), message_(std::move(message)) {}

  template <typename T>
  bool MatchAndExplain(const T& value,
                       ::testing::MatchResultListener* listener) const {
    return MatchStatus(ToStatus(value), listener);
  }
  void DescribeTo(std::ostream* os) const;
  void DescribeNegationTo(std::ostream* os) const;

 private:
  bool MatchStatus(const absl::Status& status,
                   ::testing::MatchResultListener* listener) const;

  absl::StatusCode code_;
  std::optional<::testing::Matcher<const std::string&>> message_;
};

// Turns into a Matcher<const absl::StatusOr<T>&> once gMock knows T, so
// that the inner matcher can be cast to a matcher of T.
template <typename InnerMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(InnerMatcher inner) : inner_(std::move(inner)) {}

  template <typename StatusOrType>
  operator ::testing::Matcher<StatusOrType>() const {  // NOLINT: implicit
    return ::testing::Matcher<StatusOrType>(
        new Impl<const StatusOrType&>(inner_));
  }

 private:
  template <typename StatusOrRef>
  class Impl : public ::testing::MatcherInterface<StatusOrRef> {
   public:
    using StatusOr = std::remove_cv_t<std::remove_reference_t<StatusOrRef>>;
    using Value = typename StatusOr::value_type;

    explicit Impl(const InnerMatcher& inner)
        : inner_(::testing::SafeMatcherCast<const Value&>(inner)) {}

    void DescribeTo(std::ostream* os) const override {
      *os << "is OK and holds a value that ";
      inner_.DescribeTo(os);
    }
    void DescribeNegationTo(std::ostream* os) const override {
      *os << "is not OK, or holds a value that ";
      inner_.DescribeNegationTo(os);
    }
    bool MatchAndExplain(
        StatusOrRef actual,
        ::testing::MatchResultListener* listener) const override {
      if (!actual.ok()) {
        *listener << "which has status " << Describe(actual.status());
        return false;
      }
      ::testing::StringMatchResultListener inner_listener;
      const bool matched = inner_.MatchAndExplain(*actual, &inner_listener);
      *listener << "which is OK and holds "
                << ::testing::PrintToString(*actual);
      if (!inner_listener.str().empty()) {
        *listener << ", " << inner_listener.str();
      }
      return matched;
    }

   private:
    const ::testing::Matcher<const Value&> inner_;
  };

  const InnerMatcher inner_;
};

}  // namespace internal_status

// Matches an OK status, or a StatusOr holding a value.
inline ::testing::PolymorphicMatcher<internal_status::IsOkMatcher> IsOk() {
  return ::testing::MakePolymorphicMatcher(internal_status::IsOkMatcher());
}

// Matches a status, or a StatusOr's status, with this code, whatever its
// message.
inline ::testing::PolymorphicMatcher<internal_status::StatusIsMatcher> StatusIs(
    absl::StatusCode code) {
  return ::testing::MakePolymorphicMatcher(
      internal_status::StatusIsMatcher(code, std::nullopt));
}

// The same, and a message matching `message`: a string, or a string
// matcher such as HasSubstr.
inline ::testing::PolymorphicMatcher<internal_status::StatusIsMatcher> StatusIs(
    absl::StatusCode code, ::testing::Matcher<const std::string&> message) {
  return ::testing::MakePolymorphicMatcher(
      internal_status::StatusIsMatcher(code, std::move(message)));
}

// Matches a StatusOr that holds a value matching `inner` (a matcher, or a
// value to compare with ==).
template <typename InnerMatcher>
internal_status::IsOkAndHoldsMatcher<std::decay_t<InnerMatcher>> IsOkAndHolds(
    InnerMatcher&& inner) {
  return internal_status::IsOkAndHoldsMatcher<std::decay_t<InnerMatcher>>(
      std::forward<InnerMatcher>(inner));
}

}  // namespace sigil::testing

#endif  // SIGIL_TESTS_TESTING_STATUS_MATCHERS_H_
