#include "tests/telemetry/http_attack.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace sigil::testing {
namespace {

constexpr char kHead[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";

void SetTimeout(int fd, int option, absl::Duration timeout) {
  const timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

// A blocking TCP connection to 127.0.0.1:`port`, -1 on failure.
// `send_buffer` 0 keeps the kernel's default; `source`, when not empty, is
// the IPv4 address the connection comes from.
int Connect(int port, int send_buffer, const std::string& source = "") {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof(from)) != 0) {
      close(fd);
      return -1;
    }
  }
  // Set before connect: a small buffer keeps what is in flight when the
  // server closes small, so `sent` measures the server, not the kernel.
  if (send_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof(send_buffer));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address),
              sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

HeaderFlood FloodHeaders(int port, size_t limit) {
  HeaderFlood flood;
  const int fd = Connect(port, 16 * 1024);
  if (fd < 0) return flood;
  // A server that stops reading without closing ends the flood too.
  SetTimeout(fd, SO_SNDTIMEO, absl::Seconds(10));
  SetTimeout(fd, SO_RCVTIMEO, absl::Seconds(10));
  if (!SendAll(fd, kHead)) {
    flood.cut = true;
  } else {
    flood.sent = sizeof(kHead) - 1;
  }
  for (int line = 0; !flood.cut && flood.sent < limit; ++line) {
    // 1 KiB: "X-Flood-000042: aaa...a\r\n".
    std::string text = absl::StrFormat("X-Flood-%06d: ", line);
    text.append(1022 - text.size(), 'a');
    text.append("\r\n");
    if (!SendAll(fd, text)) {
      flood.cut = errno == EPIPE || errno == ECONNRESET;
      break;
    }
    flood.sent += text.size();
  }
  char buffer[256];
  while (flood.answer.size() < 64) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    flood.answer.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return flood;
}

Trickle::Trickle(int port, const std::string& source)
    : fd_(Connect(port, 0, source)), opened_(absl::Now()) {}

Trickle::~Trickle() {
  if (fd_ >= 0) close(fd_);
}

bool Trickle::Step() {
  if (fd_ < 0) return false;
  // Closed by the server: the end of the stream, or an error, on reading.
  pollfd readable{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&readable, 1, 0) > 0) {
    char buffer[256];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return false;
  }
  static constexpr char kBody[] = "GET /healthz HTTP/1.1\r\nX-Slow: ";
  const char byte = next_ < sizeof(kBody) - 1 ? kBody[next_] : 'a';
  ++next_;
  return send(fd_, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1;
}

absl::Duration Trickle::RunUntilCut(absl::Duration every,
                                    absl::Duration limit) {
  while (Step()) {
    if (absl::Now() - opened_ > limit) return absl::InfiniteDuration();
    pollfd closed{fd_, POLLIN | POLLRDHUP, 0};
    poll(&closed, 1, static_cast<int>(absl::ToInt64Milliseconds(every)));
  }
  return absl::Now() - opened_;
}

long ResidentKiB(const std::string& status_path) {
  std::ifstream in(status_path);
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, "kB");
    long kib = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) return kib;
  }
  return -1;
}

}  // namespace sigil::testing
