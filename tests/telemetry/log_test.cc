#include "telemetry/log.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/marshalling.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sigil::telemetry {
namespace {

// 2026-11-29T08:15:00.123456Z
constexpr int64_t kNowUs = 1795940100123456;

TEST(LogTest, TextAndJsonLinesCarryTimeLevelMessageAndFields) {
  struct Case {
    LogFormat format;
    LogLevel level;
    std::string message;
    LogFields fields;
    std::string want;
  };
  const std::vector<Case> cases = {
      {LogFormat::kText,
       LogLevel::kInfo,
       "issue",
       {{"subject", "alice"}, {"systems", "A,B"}},
       "2026-11-29T08:15:00.123Z INFO issue subject=alice systems=A,B\n"},
      {LogFormat::kText,
       LogLevel::kWarning,
       "two\nlines",
       {{"subject", "quote\" back\\ nl\n"}},
       "2026-11-29T08:15:00.123Z WARNING two lines "
       "subject=\"quote\\\" back\\\\ nl\\n\"\n"},
      {LogFormat::kJson,
       LogLevel::kError,
       "audit log write failed",
       {{"error", "disk \"full\"\n\x01"}},
       "{\"time\":\"2026-11-29T08:15:00.123Z\",\"level\":\"error\","
       "\"message\":\"audit log write failed\","
       "\"fields\":{\"error\":\"disk \\\"full\\\"\\n\\u0001\"}}\n"},
      {LogFormat::kJson,
       LogLevel::kDebug,
       "plain",
       {},
       "{\"time\":\"2026-11-29T08:15:00.123Z\",\"level\":\"debug\","
       "\"message\":\"plain\",\"fields\":{}}\n"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FormatLogLine(c.format, kNowUs, c.level, c.message, c.fields),
              c.want);
  }
}

// Issue 19 finding 10a: a subject carrying " key=value" pairs must not
// forge fields in the text log.
TEST(LogTest, HostileTextValueStaysOneField) {
  const std::string hostile =
      "mallory system=B scope=subject ended_sessions=999";
  const std::string line =
      FormatLogLine(LogFormat::kText, kNowUs, LogLevel::kInfo, "revoke",
                    {{"subject", hostile}, {"seq", "7"}});
  EXPECT_EQ(line,
            "2026-11-29T08:15:00.123Z INFO revoke "
            "subject=\"mallory system=B scope=subject ended_sessions=999\" "
            "seq=7\n")
      << hostile;
}

TEST(LogTest, TextValuesThatCouldSplitAreQuoted) {
  struct Case {
    std::string value;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"", "k=\"\""},
      {"a=b", "k=\"a=b\""},
      {"tab\there", "k=\"tab\\there\""},
      {"\" x=1 \"", "k=\"\\\" x=1 \\\"\""},
      {"back\\slash", "k=\"back\\\\slash\""},
      {"plain-value_1", "k=plain-value_1"},
  };
  for (const Case& c : cases) {
    const std::string line = FormatLogLine(
        LogFormat::kText, kNowUs, LogLevel::kInfo, "m", {{"k", c.value}});
    EXPECT_EQ(line,
              absl::StrCat("2026-11-29T08:15:00.123Z INFO m ", c.want, "\n"))
        << "value: " << c.value;
  }
}

TEST(LogTest, LevelAndFormatParseAsFlagsDo) {
  LogLevel level;
  std::string error;
  ASSERT_TRUE(absl::ParseFlag("warning", &level, &error));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(absl::ParseFlag("DEBUG", &level, &error));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_FALSE(absl::ParseFlag("verbose", &level, &error));
  EXPECT_EQ(error, "want debug, info, warning or error");
  EXPECT_EQ(absl::UnparseFlag(LogLevel::kError), "error");

  LogFormat format;
  ASSERT_TRUE(absl::ParseFlag("json", &format, &error));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_FALSE(absl::ParseFlag("xml", &format, &error));
  EXPECT_EQ(absl::UnparseFlag(LogFormat::kText), "text");
}

TEST(LogTest, LinesBelowTheLevelAreDropped) {
  SetLogOptions(LogLevel::kWarning, LogFormat::kText);
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kWarning));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLogOptions(LogLevel::kInfo, LogFormat::kText);
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
}

}  // namespace
}  // namespace sigil::telemetry
