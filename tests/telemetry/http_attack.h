#ifndef SIGIL_TESTS_TELEMETRY_HTTP_ATTACK_H_
#define SIGIL_TESTS_TELEMETRY_HTTP_ATTACK_H_

#include <cstddef>
#include <string>

#include "absl/time/time.h"

namespace sigil::testing {

// What one connection achieved by sending `GET /healthz` and then 1 KiB
// header lines, never a blank line, over a small send buffer.
struct HeaderFlood {
  // Bytes the socket took before the server closed it, or `limit`.
  size_t sent = 0;
  // Whether the server closed the connection before `limit` was sent.
  bool cut = false;
  // The start of what the server answered, if anything.
  std::string answer;
};

// Floods 127.0.0.1:`port` with up to `limit` bytes of header lines.
HeaderFlood FloodHeaders(int port, size_t limit);

// A connection that sends the head of `GET /healthz` one byte every
// `every`, never finishing it. Not thread-safe.
class Trickle {
 public:
  // Connects to 127.0.0.1:`port` from `source` (an IPv4 loopback address
  // such as "127.0.0.2", so tests can play several hosts), or from the
  // kernel's choice when empty.
  explicit Trickle(int port, const std::string& source = "");
  ~Trickle();
  Trickle(const Trickle&) = delete;
  Trickle& operator=(const Trickle&) = delete;

  // Sends the next byte; false once the server has closed the connection.
  bool Step();
  // Steps every `every` until the server closes the connection: how long
  // the connection lived from its start, or absl::InfiniteDuration() when
  // it outlived `limit`.
  absl::Duration RunUntilCut(absl::Duration every, absl::Duration limit);

 private:
  int fd_ = -1;
  absl::Time opened_;
  size_t next_ = 0;
};

// The resident set size in KiB from a /proc/<pid>/status file (VmRSS),
// or -1 when it cannot be read.
long ResidentKiB(const std::string& status_path = "/proc/self/status");

}  // namespace sigil::testing

#endif  // SIGIL_TESTS_TELEMETRY_HTTP_ATTACK_H_
