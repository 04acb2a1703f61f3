#include "bench/load/target.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sigil::bench {
namespace {

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    const std::string inner(host.substr(1, host.size() - 2));
    in6_addr v6;
    return inet_pton(AF_INET6, inner.c_str(), &v6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

}  // namespace

absl::Status CheckLoopback(absl::string_view target) {
  if (absl::StartsWith(target, "unix:")) {
    if (target.size() > 5) return absl::OkStatus();
    return absl::InvalidArgumentError("unix: target without a path");
  }
  const size_t colon = target.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(target.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("target ", target, " is not HOST:PORT or unix:PATH"));
  }
  if (!IsLoopbackHost(target.substr(0, colon))) {
    return absl::InvalidArgumentError(
        absl::StrCat("target ", target,
                     " is not on loopback: sigil-bench only loads a server "
                     "on this machine (127.0.0.0/8, [::1], localhost or "
                     "unix:PATH)"));
  }
  return absl::OkStatus();
}

}  // namespace sigil::bench
