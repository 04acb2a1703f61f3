#include "server/validation.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace sigil::server {
namespace {

struct Case {
  std::string input;
  bool valid;
};

TEST(ValidationTest, Subjects) {
  const std::vector<Case> cases = {
      {"alice", true},
      {"user@example.org", true},
      {"Zoë 山田", true},
      {std::string(256, 'u'), true},
      {"\xf0\x9f\x94\x91", true},  // U+1F511
      {"", false},
      {std::string(257, 'u'), false},
      {std::string("a\0b", 3), false},
      {"a\nb", false},
      {"a\x7f", false},
      {"a\xc2\x85", false},         // U+0085, a C1 control
      {"\xc3\x28", false},          // broken sequence
      {"\xc0\xaf", false},          // overlong '/'
      {"\xed\xa0\x80", false},      // UTF-16 surrogate
      {"\xf4\x90\x80\x80", false},  // above U+10FFFF
      {"\xe2\x82", false},          // truncated
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.input));
    EXPECT_EQ(ValidateSubject(c.input).ok(), c.valid);
  }
}

TEST(ValidationTest, Systems) {
  const std::vector<Case> cases = {
      {"A", true},
      {"orders-api.v2", true},
      {"spiffe://example.org/system/A", true},
      {std::string(128, 's'), true},
      {"", false},
      {std::string(129, 's'), false},
      {"A B", false},
      {"A,B", false},
      {"é", false},
      {std::string("A\0", 2), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.input));
    EXPECT_EQ(ValidateSystem(c.input).ok(), c.valid);
  }
}

TEST(ValidationTest, Scopes) {
  const std::vector<Case> cases = {
      {"orders.read", true},  {"https://api.example/x:y", true},
      {"!#[]~", true},        {"", false},
      {"two words", false},   {"quote\"", false},
      {"back\\slash", false}, {"tab\t", false},
      {"\xc3\xa9", false},    {std::string(129, 's'), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.input));
    EXPECT_EQ(ValidateScope(c.input).ok(), c.valid);
  }
}

}  // namespace
}  // namespace sigil::server
