#ifndef SIGIL_SERVER_LOG_H_
#define SIGIL_SERVER_LOG_H_

#include "absl/strings/string_view.h"

namespace sigil::server {

// Writes one line to stderr, prefixed with the UTC time. One write call per
// line, so lines from concurrent calls never interleave. Callers never pass
// tokens or key material.
void LogLine(absl::string_view line);

}  // namespace sigil::server

#endif  // SIGIL_SERVER_LOG_H_
