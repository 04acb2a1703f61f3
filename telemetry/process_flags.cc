#include "telemetry/process_flags.h"

#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"

ABSL_FLAG(sigil::telemetry::LogLevel, log_level,
          sigil::telemetry::LogLevel::kInfo,
          "Least severe log line written: debug, info, warning or error.");
ABSL_FLAG(sigil::telemetry::LogFormat, log_format,
          sigil::telemetry::LogFormat::kText,
          "Log lines on stderr as text, or as JSON objects (time, level, "
          "message, fields).");

namespace sigil::telemetry {

void ConfigureProcess() {
  // Debian's Abseil checks every Mutex acquisition for lock-order cycles,
  // a debug aid whose cost shows on the Verify path; the tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  SetLogOptions(absl::GetFlag(FLAGS_log_level),
                absl::GetFlag(FLAGS_log_format));
}

}  // namespace sigil::telemetry
