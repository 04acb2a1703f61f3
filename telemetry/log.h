#ifndef SIGIL_TELEMETRY_LOG_H_
#define SIGIL_TELEMETRY_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace sigil::telemetry {

// The diagnostic log of sigild and sigil-agent, on stderr. (The audit log of
// state changes is server/auth's, and separate.) Callers never pass tokens
// or key material.

enum class LogLevel { kDebug, kInfo, kWarning, kError };
// text: "2026-11-29T08:15:00.123Z INFO message key=value ...";
// json: {"time":"...","level":"info","message":"...","fields":{...}}.
enum class LogFormat { kText, kJson };

// Flag syntax (--log_level=debug|info|warning|error, --log_format=text|json)
// for ABSL_FLAG; see absl/flags/marshalling.h.
bool AbslParseFlag(absl::string_view text, LogLevel* level, std::string* error);
std::string AbslUnparseFlag(LogLevel level);
bool AbslParseFlag(absl::string_view text, LogFormat* format,
                   std::string* error);
std::string AbslUnparseFlag(LogFormat format);

// Lines below `level` are dropped; lines are written in `format`. Takes
// effect for lines that start after it returns; call it before the threads
// that log start. Defaults: info, text.
void SetLogOptions(LogLevel level, LogFormat format);
bool LogEnabled(LogLevel level);

// Named values of one line, in the order given.
using LogFields = std::vector<std::pair<std::string, std::string>>;

// Writes one line with the UTC time, when `level` is enabled. One write
// call per line, so lines from concurrent calls never interleave. Text
// escapes a field value's quotes, backslashes, control and non-ASCII bytes
// in C style, and puts a value that is empty or holds a space, '=', '"',
// '\\' or a control byte in double quotes: every value reads back as one
// field, whatever its bytes. JSON escapes as JSON. Thread-safe.
void Log(LogLevel level, absl::string_view message,
         const LogFields& fields = {});

// Routes gRPC's own log lines of ERROR severity through Log (one line
// each, in the chosen format) and drops the rest; while `muted` returns
// true (null: never) they are dropped too. `muted` must be thread-safe.
void ForwardGrpcErrors(bool (*muted)());

// The line Log writes, for `now` in Unix microseconds: what tests compare.
std::string FormatLogLine(LogFormat format, int64_t now_us, LogLevel level,
                          absl::string_view message, const LogFields& fields);

}  // namespace sigil::telemetry

#endif  // SIGIL_TELEMETRY_LOG_H_
