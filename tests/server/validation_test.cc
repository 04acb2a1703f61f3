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

TEST(ValidationTest, IssueRequests) {
  struct IssueCase {
    std::string name;
    std::string subject;
    std::vector<std::string> systems;
    std::vector<std::string> scopes;
    bool valid;
  };
  const std::vector<IssueCase> cases = {
      {"plain", "alice", {"A", "B"}, {"orders.read"}, true},
      {"one system", "alice", {"A"}, {}, true},
      {"bad subject", std::string(60000, '\x01'), {"A"}, {}, false},
      {"no system", "alice", {}, {}, false},
      {"33 systems", "alice", std::vector<std::string>(33, "A"), {}, false},
      {"65 scopes", "alice", {"A"}, std::vector<std::string>(65, "s"), false},
      {"twice", "alice", {"A", "A"}, {}, false},
      {"bad system", "alice", {"A B"}, {}, false},
      {"bad scope", "alice", {"A"}, {"a b"}, false},
  };
  for (const IssueCase& c : cases) {
    EXPECT_EQ(ValidateIssue(c.subject, c.systems, c.scopes).ok(), c.valid)
        << c.name;
  }
}

}  // namespace
}  // namespace sigil::server
