#include "server/log.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sigil::server {

void LogLine(absl::string_view line) {
  const std::string out =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(),
                                    absl::UTCTimeZone()),
                   line, "\n");
  // A failed diagnostic write has nowhere better to be reported.
  (void)!write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace sigil::server
