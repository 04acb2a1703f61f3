#include "telemetry/log.h"

#include <grpc/support/log.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "token/json.h"

namespace sigil::telemetry {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kText};
std::atomic<bool (*)()> g_grpc_muted{nullptr};

void GrpcLog(gpr_log_func_args* args) {
  bool (*muted)() = g_grpc_muted.load();
  if (args->severity < GPR_LOG_SEVERITY_ERROR ||
      (muted != nullptr && muted())) {
    return;
  }
  Log(LogLevel::kError, "grpc", {{"error", args->message}});
}

constexpr struct {
  LogLevel level;
  const char* name;
} kLevels[] = {{LogLevel::kDebug, "debug"},
               {LogLevel::kInfo, "info"},
               {LogLevel::kWarning, "warning"},
               {LogLevel::kError, "error"}};

// A text field value as one token: plain when it holds nothing a reader
// would split on, else in double quotes. CHexEscape turns quotes,
// backslashes and control bytes into escapes, so a quoted value can never
// end early and a hostile value ("x system=B") cannot forge a field.
std::string TextValue(absl::string_view value) {
  const bool plain =
      !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
        const unsigned char u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f || c == '=' || c == '"' || c == '\\';
      });
  const std::string escaped = absl::CHexEscape(value);
  return plain ? escaped : absl::StrCat("\"", escaped, "\"");
}

const char* LevelName(LogLevel level) {
  for (const auto& known : kLevels) {
    if (known.level == level) return known.name;
  }
  return "info";
}

}  // namespace

bool AbslParseFlag(absl::string_view text, LogLevel* level,
                   std::string* error) {
  for (const auto& known : kLevels) {
    if (absl::AsciiStrToLower(text) == known.name) {
      *level = known.level;
      return true;
    }
  }
  *error = "want debug, info, warning or error";
  return false;
}

std::string AbslUnparseFlag(LogLevel level) { return LevelName(level); }

bool AbslParseFlag(absl::string_view text, LogFormat* format,
                   std::string* error) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "text" || lower == "json") {
    *format = lower == "text" ? LogFormat::kText : LogFormat::kJson;
    return true;
  }
  *error = "want text or json";
  return false;
}

std::string AbslUnparseFlag(LogFormat format) {
  return format == LogFormat::kJson ? "json" : "text";
}

void SetLogOptions(LogLevel level, LogFormat format) {
  g_level.store(level);
  g_format.store(format);
}

bool LogEnabled(LogLevel level) { return level >= g_level.load(); }

std::string FormatLogLine(LogFormat format, int64_t now_us, LogLevel level,
                          absl::string_view message, const LogFields& fields) {
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMicros(now_us),
                       absl::UTCTimeZone());
  std::string out;
  if (format == LogFormat::kText) {
    absl::StrAppend(&out, time, " ", absl::AsciiStrToUpper(LevelName(level)),
                    " ", absl::StrReplaceAll(message, {{"\n", " "}}));
    for (const auto& [name, value] : fields) {
      absl::StrAppend(&out, " ", name, "=", TextValue(value));
    }
  } else {
    std::vector<token::JsonValue::Member> named;
    for (const auto& [name, value] : fields) {
      named.emplace_back(name, token::JsonValue::String(value));
    }
    std::vector<token::JsonValue::Member> line;
    line.emplace_back("time", token::JsonValue::String(time));
    line.emplace_back("level", token::JsonValue::String(LevelName(level)));
    line.emplace_back("message",
                      token::JsonValue::String(std::string(message)));
    line.emplace_back("fields", token::JsonValue::Object(std::move(named)));
    out = token::JsonValue::Object(std::move(line)).Serialize();
  }
  out.push_back('\n');
  return out;
}

void ForwardGrpcErrors(bool (*muted)()) {
  g_grpc_muted.store(muted);
  gpr_set_log_function(GrpcLog);
}

void Log(LogLevel level, absl::string_view message, const LogFields& fields) {
  if (!LogEnabled(level)) return;
  const std::string line = FormatLogLine(
      g_format.load(), absl::ToUnixMicros(absl::Now()), level, message, fields);
  // A failed diagnostic write has nowhere better to be reported.
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace sigil::telemetry
