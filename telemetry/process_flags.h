#ifndef SIGIL_TELEMETRY_PROCESS_FLAGS_H_
#define SIGIL_TELEMETRY_PROCESS_FLAGS_H_

#include "absl/flags/declare.h"
#include "telemetry/log.h"

ABSL_DECLARE_FLAG(sigil::telemetry::LogLevel, log_level);
ABSL_DECLARE_FLAG(sigil::telemetry::LogFormat, log_format);

namespace sigil::telemetry {

// What sigild and sigil-agent set up alike, once main has parsed the
// command line: the log from --log_level and --log_format (both defined
// here), and Abseil's Mutex without its per-lock deadlock detection.
// Not thread-safe: call once, before any other thread starts.
void ConfigureProcess();

}  // namespace sigil::telemetry

#endif  // SIGIL_TELEMETRY_PROCESS_FLAGS_H_
