#include "tests/testing/status_matchers.h"

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"

namespace sigil::testing::internal_status {

std::string Describe(const absl::Status& status) {
  // ToString also names any payloads, which a test may have attached.
  return status.ToString();
}

void IsOkMatcher::DescribeTo(std::ostream* os) const { *os << "is OK"; }

void IsOkMatcher::DescribeNegationTo(std::ostream* os) const {
  *os << "is not OK";
}

bool IsOkMatcher::MatchStatus(const absl::Status& status,
                              ::testing::MatchResultListener* listener) {
  *listener << "which has status " << Describe(status);
  return status.ok();
}

void StatusIsMatcher::DescribeTo(std::ostream* os) const {
  *os << "has status code " << absl::StatusCodeToString(code_);
  if (message_.has_value()) {
    *os << " and a message that ";
    message_->DescribeTo(os);
  }
}

void StatusIsMatcher::DescribeNegationTo(std::ostream* os) const {
  *os << "does not have status code " << absl::StatusCodeToString(code_);
  if (message_.has_value()) {
    *os << ", or has a message that ";
    message_->DescribeNegationTo(os);
  }
}

bool StatusIsMatcher::MatchStatus(
    const absl::Status& status,
    ::testing::MatchResultListener* listener) const {
  *listener << "which has status " << Describe(status);
  if (status.code() != code_) return false;
  if (!message_.has_value()) return true;
  ::testing::StringMatchResultListener message_listener;
  const bool matched = message_->MatchAndExplain(std::string(status.message()),
                                                 &message_listener);
  if (!message_listener.str().empty()) {
    *listener << ", whose message " << message_listener.str();
  }
  return matched;
}

}  // namespace sigil::testing::internal_status
