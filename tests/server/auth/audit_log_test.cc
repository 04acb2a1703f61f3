#include "server/auth/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"
#include "token/json.h"

namespace sigil::server::auth {
namespace {

using ::sigil::testing::IsOk;
using ::sigil::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kStart = absl::FromUnixMicros(1714564800123456);  // 2024-05-01

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// The file's lines, each of which must end with '\n'.
std::vector<std::string> Lines(const std::string& path) {
  const std::string text = ReadAll(path);
  EXPECT_TRUE(text.empty() || text.back() == '\n');
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // after the last '\n'
  return lines;
}

absl::StatusOr<token::JsonValue> Parse(const std::string& line) {
  token::JsonLimits limits;
  limits.max_bytes = 1 << 20;
  return token::ParseJson(line, limits);
}

std::vector<std::string> Names(const token::JsonValue& object) {
  std::vector<std::string> names;
  for (const auto& member : object.members()) names.push_back(member.first);
  return names;
}

std::string StringField(const token::JsonValue& object,
                        absl::string_view name) {
  const token::JsonValue* value = object.Find(name);
  if (value == nullptr || !value->is_string()) return "<missing>";
  return value->string_value();
}

class AuditLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> Open() {
    auto log = AuditLog::Open(path_, &clock_);
    EXPECT_THAT(log, IsOk());
    return log.ok() ? *std::move(log) : nullptr;
  }

  testing::TempDir dir_;
  std::string path_ = dir_.Sub("audit.log");
  token::FakeClock clock_{kStart};
};

TEST_F(AuditLogTest, OneLinePerEventWithItsFields) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  AuditEvent issue;
  issue.principal = "spiffe://example.org/login";
  issue.action = AuditAction::kIssue;
  issue.subject = "alice";
  issue.systems = {"A", "B"};
  issue.session_id = "s-1";
  issue.token_id = "t-1";
  ASSERT_THAT(log->Record(issue), IsOk());

  clock_.Advance(absl::Microseconds(1));
  AuditEvent denied;
  denied.principal = "spiffe://example.org/system/B";
  denied.action = AuditAction::kLogoutFromSystem;
  denied.subject = "alice";
  denied.systems = {"A"};
  denied.result = absl::PermissionDeniedError("no system grant for \"A\"");
  ASSERT_THAT(log->Record(denied), IsOk());

  clock_.Advance(absl::Seconds(1));
  AuditEvent rotate;
  rotate.principal = "spiffe://example.org/admin";
  rotate.action = AuditAction::kRotateKeys;
  ASSERT_THAT(log->Record(rotate), IsOk());

  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0],
            "{\"time\":\"2024-05-01T12:00:00.123456Z\","
            "\"principal\":\"spiffe://example.org/login\",\"action\":\"Issue\","
            "\"subject\":\"alice\",\"systems\":[\"A\",\"B\"],"
            "\"session_id\":\"s-1\",\"token_id\":\"t-1\",\"result\":\"OK\"}");

  auto second = Parse(lines[1]);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(Names(*second),
              ElementsAre("time", "principal", "action", "subject", "systems",
                          "result", "message"));
  EXPECT_EQ(StringField(*second, "time"), "2024-05-01T12:00:00.123457Z");
  EXPECT_EQ(StringField(*second, "action"), "LogoutFromSystem");
  EXPECT_EQ(StringField(*second, "result"), "PERMISSION_DENIED");
  EXPECT_EQ(StringField(*second, "message"), "no system grant for \"A\"");

  auto third = Parse(lines[2]);
  ASSERT_THAT(third, IsOk());
  EXPECT_THAT(Names(*third), ElementsAre("time", "principal", "action",
                                         "subject", "systems", "result"));
  EXPECT_EQ(StringField(*third, "time"), "2024-05-01T12:00:01.123457Z");
  EXPECT_EQ(StringField(*third, "action"), "RotateKeys");
  EXPECT_EQ(StringField(*third, "subject"), "");
  EXPECT_TRUE(third->Find("systems")->items().empty());
}

TEST_F(AuditLogTest, TheCallerAnAgentNamedFollowsThePrincipal) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  AuditEvent logout;
  logout.principal = "spiffe://example.org/system/A";
  logout.on_behalf_of = "unix-uid:10001";
  logout.action = AuditAction::kLogoutFromSystem;
  logout.subject = "alice";
  logout.systems = {"A"};
  ASSERT_THAT(log->Record(logout), IsOk());
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 1u);
  auto line = Parse(lines[0]);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(Names(*line),
              ElementsAre("time", "principal", "on_behalf_of", "action",
                          "subject", "systems", "result"));
  EXPECT_EQ(StringField(*line, "on_behalf_of"), "unix-uid:10001");
}

TEST_F(AuditLogTest, EveryActionHasItsRpcName) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  const std::vector<std::pair<AuditAction, std::string>> actions = {
      {AuditAction::kIssue, "Issue"},
      {AuditAction::kRefresh, "Refresh"},
      {AuditAction::kLogoutFromSystem, "LogoutFromSystem"},
      {AuditAction::kLogoutAll, "LogoutAll"},
      {AuditAction::kRevoke, "Revoke"},
      {AuditAction::kRotateKeys, "RotateKeys"},
  };
  for (const auto& [action, name] : actions) {
    AuditEvent event;
    event.action = action;
    ASSERT_THAT(log->Record(event), IsOk());
  }
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), actions.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(actions[i].second);
    auto parsed = Parse(lines[i]);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(StringField(*parsed, "action"), actions[i].second);
  }
}

struct HostileCase {
  std::string name;
  std::string subject;
  std::string parsed_back;  // what a JSON reader gets
};

TEST_F(AuditLogTest, HostileSubjectsStayOnOneParseableLine) {
  const std::vector<HostileCase> cases = {
      {"quote and backslash", "a\"b\\c", "a\"b\\c"},
      {"newline forging a line",
       "x\"}\n{\"principal\":\"spiffe://example.org/admin\"",
       "x\"}\n{\"principal\":\"spiffe://example.org/admin\""},
      {"carriage return and tab", "a\rb\tc", "a\rb\tc"},
      {"control characters", "\x01\x1b[31m\x1f", "\x01\x1b[31m\x1f"},
      {"del", "a\x7f", "a\x7f"},
      {"valid multibyte", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
       "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
      {"line separator", "a\xe2\x80\xa8z", "a\xe2\x80\xa8z"},
      {"lone continuation byte", "a\x80z", "a\xef\xbf\xbdz"},
      {"invalid lead byte", "\xff", "\xef\xbf\xbd"},
      {"overlong slash", "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
      {"surrogate", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"truncated sequence at the end", "a\xe2\x82",
       "a\xef\xbf\xbd\xef\xbf\xbd"},
      {"above U+10FFFF", "\xf4\x90\x80\x80",
       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
  };
  auto log = Open();
  ASSERT_NE(log, nullptr);
  for (const HostileCase& c : cases) {
    AuditEvent event;
    event.principal = c.subject;
    event.subject = c.subject;
    event.systems = {c.subject};
    event.result = absl::InvalidArgumentError(c.subject);
    ASSERT_THAT(log->Record(event), IsOk());
  }
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const HostileCase& c = cases[i];
    SCOPED_TRACE(absl::StrCat(c.name, ": ", absl::CHexEscape(lines[i])));
    auto parsed = Parse(lines[i]);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(StringField(*parsed, "subject"), c.parsed_back);
    EXPECT_EQ(StringField(*parsed, "principal"), c.parsed_back);
    EXPECT_EQ(StringField(*parsed, "message"), c.parsed_back);
    ASSERT_EQ(parsed->Find("systems")->items().size(), 1u);
    EXPECT_EQ(parsed->Find("systems")->items()[0].string_value(),
              c.parsed_back);
  }
}

// The project's strict parser refuses \u0000 (JWT claims must not hold it),
// so the NUL case is checked on the raw line.
TEST_F(AuditLogTest, NulIsEscaped) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  AuditEvent event;
  event.subject = std::string("a\0b", 3);
  ASSERT_THAT(log->Record(event), IsOk());
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("\"subject\":\"a\\u0000b\""));
  EXPECT_EQ(lines[0].find('\0'), std::string::npos);
}

TEST_F(AuditLogTest, ConcurrentWritersNeverInterleaveLines) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kPerThread; ++i) {
        AuditEvent event;
        // Long enough that a torn write would show.
        event.subject = absl::StrCat(t, "-", i, "-", std::string(5000, 'x'));
        event.systems = {absl::StrCat("system-", t)};
        EXPECT_THAT(log->Record(event), IsOk());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> subjects;
  for (const std::string& line : lines) {
    auto parsed = Parse(line);
    ASSERT_THAT(parsed, IsOk());
    subjects.insert(StringField(*parsed, "subject"));
  }
  EXPECT_EQ(subjects.size(), lines.size());
}

// Issue 19 finding 5: a caller with no grant sent 60 KB subjects of
// control characters and each refused call wrote ~352 KiB.
TEST_F(AuditLogTest, ARefusedCallsFieldsAreCutWithTheirLength) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  AuditEvent event;
  event.principal = "spiffe://example.org/system/Z";
  event.subject = std::string(60000, '\x01');
  for (int i = 0; i < 40; ++i) event.systems.push_back(std::string(128, 'S'));
  event.result = absl::PermissionDeniedError(std::string(10000, '\x02'));
  ASSERT_THAT(log->Record(event), IsOk());

  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(lines[0].size(), 8192u) << "a refused call's line is bounded";
  auto parsed = Parse(lines[0]);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(StringField(*parsed, "subject"), std::string(256, '\x01'));
  EXPECT_EQ(parsed->Find("subject_bytes")->AsInt64(), 60000);
  EXPECT_EQ(parsed->Find("message_bytes")->AsInt64(), 10000);
  EXPECT_EQ(parsed->Find("systems")->items().size(), 8u);
  EXPECT_EQ(parsed->Find("systems_count")->AsInt64(), 40);
}

TEST_F(AuditLogTest, CutsNeverSplitACharacter) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  AuditEvent event;
  // 255 ASCII bytes, then a 3-byte character across the 256-byte cut.
  event.subject = std::string(255, 'a') + "\xe2\x82\xac" + "tail";
  event.result = absl::InvalidArgumentError("bad");
  ASSERT_THAT(log->Record(event), IsOk());
  auto parsed = Parse(Lines(path_).at(0));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(StringField(*parsed, "subject"), std::string(255, 'a'));
  EXPECT_EQ(parsed->Find("subject_bytes")->AsInt64(), 262);
}

TEST_F(AuditLogTest, AllowedCallsAreWrittenWhole) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  AuditEvent event;
  event.subject = std::string(5000, 'x');
  ASSERT_THAT(log->Record(event), IsOk());
  auto parsed = Parse(Lines(path_).at(0));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(StringField(*parsed, "subject"), event.subject);
  EXPECT_EQ(parsed->Find("subject_bytes"), nullptr);
}

AuditEvent RefusedBy(const std::string& principal) {
  AuditEvent event;
  event.principal = principal;
  event.subject = "alice";
  event.result = absl::PermissionDeniedError("no grant");
  return event;
}

// The lines of `path` whose action is `action`.
std::vector<token::JsonValue> WithAction(const std::string& path,
                                         const std::string& action) {
  std::vector<token::JsonValue> found;
  for (const std::string& line : Lines(path)) {
    auto parsed = Parse(line);
    EXPECT_THAT(parsed, IsOk()) << line;
    if (parsed.ok() && StringField(*parsed, "action") == action) {
      found.push_back(*std::move(parsed));
    }
  }
  return found;
}

TEST_F(AuditLogTest, RefusedLinesAreRateLimitedPerPrincipalAndCounted) {
  AuditLimits limits;
  limits.refused_burst = 10;
  limits.refused_per_second = 1;
  auto opened = AuditLog::Open(path_, &clock_, limits);
  ASSERT_THAT(opened, IsOk());
  std::unique_ptr<AuditLog> log = *std::move(opened);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_THAT(log->Record(RefusedBy("mallory")), IsOk()) << i;
  }
  EXPECT_EQ(Lines(path_).size(), 10u) << "the burst, then nothing";

  // Another principal, and allowed calls, are not held back.
  ASSERT_THAT(log->Record(RefusedBy("bob")), IsOk());
  AuditEvent allowed;
  allowed.principal = "mallory";
  ASSERT_THAT(log->Record(allowed), IsOk());
  EXPECT_EQ(Lines(path_).size(), 12u);

  // Refilled: the count of what was left out, then the line.
  clock_.Advance(absl::Seconds(2));
  ASSERT_THAT(log->Record(RefusedBy("mallory")), IsOk());
  const std::vector<token::JsonValue> summaries =
      WithAction(path_, "AuditSuppressed");
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(StringField(summaries[0], "principal"), "mallory");
  EXPECT_EQ(summaries[0].Find("suppressed")->AsInt64(), 990);
  EXPECT_EQ(StringField(summaries[0], "first"), "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(Lines(path_).size(), 14u);
}

TEST_F(AuditLogTest, ASuppressedRunIsCountedWhenTheLogCloses) {
  AuditLimits limits;
  limits.refused_burst = 3;
  {
    auto opened = AuditLog::Open(path_, &clock_, limits);
    ASSERT_THAT(opened, IsOk());
    for (int i = 0; i < 8; ++i) {
      ASSERT_THAT((*opened)->Record(RefusedBy("mallory")), IsOk());
    }
  }
  const std::vector<token::JsonValue> summaries =
      WithAction(path_, "AuditSuppressed");
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(summaries[0].Find("suppressed")->AsInt64(), 5);
  EXPECT_EQ(Lines(path_).size(), 4u);
}

TEST_F(AuditLogTest, PrincipalsBeyondTheBoundShareOneBucket) {
  AuditLimits limits;
  limits.refused_burst = 2;
  limits.refused_per_second = 0;
  limits.max_principals = 2;
  auto opened = AuditLog::Open(path_, &clock_, limits);
  ASSERT_THAT(opened, IsOk());
  for (int p = 0; p < 50; ++p) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_THAT((*opened)->Record(RefusedBy(absl::StrCat("p", p))), IsOk());
    }
  }
  // Two principals with buckets of their own, then everyone else in "*".
  EXPECT_EQ(Lines(path_).size(), 6u);
}

TEST_F(AuditLogTest, CreatesTheFileOwnerOnlyAndAppends) {
  {
    auto log = Open();
    ASSERT_NE(log, nullptr);
    ASSERT_THAT(log->Record(AuditEvent{}), IsOk());
  }
  struct stat info;
  ASSERT_EQ(stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);

  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  ASSERT_THAT(reopened->Record(AuditEvent{}), IsOk());
  EXPECT_EQ(Lines(path_).size(), 2u);
}

TEST_F(AuditLogTest, DashIsStandardOutput) {
  const std::string captured = dir_.Sub("stdout");
  const int saved = dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  const int file = open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(file, 0);
  ASSERT_EQ(dup2(file, STDOUT_FILENO), STDOUT_FILENO);
  close(file);
  absl::Status recorded;
  {
    auto log = AuditLog::Open("-", &clock_);
    recorded = log.ok() ? (*log)->Record(AuditEvent{}) : log.status();
  }
  dup2(saved, STDOUT_FILENO);
  close(saved);
  ASSERT_THAT(recorded, IsOk());
  const std::vector<std::string> lines = Lines(captured);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(Parse(lines[0]), IsOk()) << lines[0];
  // The log did not close standard output.
  EXPECT_NE(fcntl(STDOUT_FILENO, F_GETFD), -1);
}

TEST(AuditLogErrorsTest, OpenNamesThePath) {
  token::FakeClock clock(kStart);
  testing::TempDir dir;
  const std::string path = dir.Sub("missing-dir/audit.log");
  auto log = AuditLog::Open(path, &clock);
  ASSERT_THAT(log, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(log.status().message()), HasSubstr(path));
}

TEST(AuditLogErrorsTest, AFailedWriteIsReportedNotSwallowed) {
  token::FakeClock clock(kStart);
  auto log = AuditLog::Open("/dev/full", &clock);
  ASSERT_THAT(log, IsOk());
  const absl::Status status = (*log)->Record(AuditEvent{});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(status.message()), HasSubstr("/dev/full"));
}

}  // namespace
}  // namespace sigil::server::auth
