#include "client/agent/unix_peer.h"

#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "telemetry/log.h"

namespace sigil::client::agent {
namespace {

absl::Status CannotListen(const std::string& path, int error) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot listen on unix:", path, ": ", std::strerror(error)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<UnixListener>> UnixListener::Listen(
    const std::string& path, Limits limits) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return CannotListen(path, ENAMETOOLONG);
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  // A socket file left by an earlier run would make bind fail; anything
  // else at the path is not ours to remove.
  struct stat existing {};
  if (lstat(path.c_str(), &existing) == 0 && S_ISSOCK(existing.st_mode)) {
    unlink(path.c_str());
  }
  // Non-blocking: the acceptor polls before accepting.
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return CannotListen(path, errno);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) !=
          0 ||
      listen(fd, SOMAXCONN) != 0) {
    const int error = errno;
    close(fd);
    return CannotListen(path, error);
  }
  const int wake = eventfd(0, EFD_CLOEXEC);
  if (wake < 0) {
    const int error = errno;
    close(fd);
    return CannotListen(path, error);
  }
  return std::unique_ptr<UnixListener>(
      new UnixListener(path, fd, wake, limits));
}

void UnixListener::Serve(grpc::Server* server) {
  acceptor_ = std::thread([this, server] { AcceptLoop(server); });
}

void UnixListener::AcceptLoop(grpc::Server* server) {
  std::vector<int> waiting;
  std::vector<pollfd> polled;
  for (;;) {
    const absl::Time next = Sweep(server, &waiting);
    polled.assign({pollfd{fd_, POLLIN, 0}, pollfd{wake_, POLLIN, 0}});
    for (int fd : waiting) polled.push_back(pollfd{fd, POLLIN, 0});
    int timeout_ms = -1;
    if (next != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(next - absl::Now()) + 1));
    }
    const int ready = poll(polled.data(), polled.size(), timeout_ms);
    if (stopping_.load()) return;
    if (ready < 0 && errno != EINTR) {
      failed_.store(true);
      telemetry::Log(telemetry::LogLevel::kError,
                     "unix socket poll failed; no longer accepting",
                     {{"path", path_}, {"error", std::strerror(errno)}});
      return;
    }
    if (ready > 0 && (polled[0].revents & POLLIN) != 0 && !AcceptOne()) {
      return;
    }
  }
}

bool UnixListener::AcceptOne() {
  // Non-blocking, as gRPC's own endpoints are.
  const int connection =
      accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (connection < 0) {
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR ||
        error == ECONNABORTED) {
      return true;
    }
    if (error == EMFILE || error == ENFILE || error == ENOBUFS ||
        error == ENOMEM) {
      // Out of descriptors or memory: transient; back off, not spin.
      telemetry::Log(telemetry::LogLevel::kWarning, "unix socket accept failed",
                     {{"error", std::strerror(error)}});
      usleep(100 * 1000);
      return true;
    }
    // Anything else leaves the socket unusable: said aloud, and the agent
    // turns not ready instead of serving no one while claiming to.
    failed_.store(true);
    telemetry::Log(telemetry::LogLevel::kError,
                   "unix socket accept failed; no longer accepting",
                   {{"path", path_}, {"error", std::strerror(error)}});
    return false;
  }
  ucred credentials{};
  socklen_t size = sizeof(credentials);
  struct stat info {};
  if (getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &credentials, &size) !=
          0 ||
      fstat(connection, &info) != 0) {
    close(connection);
    return true;
  }
  const uint32_t uid = static_cast<uint32_t>(credentials.uid);
  absl::MutexLock lock(&mu_);
  // Forget connections gRPC has closed since: their descriptor is gone or
  // now names another file.
  open_.erase(std::remove_if(open_.begin(), open_.end(),
                             [](const Open& open) {
                               if (!open.handed_over) return false;
                               struct stat now {};
                               return fstat(open.fd, &now) != 0 ||
                                      now.st_ino != open.inode;
                             }),
              open_.end());
  const size_t of_uid = static_cast<size_t>(
      std::count_if(open_.begin(), open_.end(),
                    [uid](const Open& open) { return open.uid == uid; }));
  if (open_.size() >= limits_.max_connections ||
      of_uid >= limits_.max_connections_per_uid) {
    refused_.fetch_add(1);
    close(connection);
    return true;
  }
  open_.push_back(Open{connection, info.st_ino, uid, false,
                       absl::Now() + limits_.handshake_timeout});
  return true;
}

absl::Time UnixListener::Sweep(grpc::Server* server,
                               std::vector<int>* waiting) {
  waiting->clear();
  std::vector<int> ready;
  absl::Time next = absl::InfiniteFuture();
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    for (auto it = open_.begin(); it != open_.end();) {
      if (it->handed_over) {
        ++it;
        continue;
      }
      pollfd check{it->fd, POLLIN, 0};
      const bool readable = poll(&check, 1, 0) == 1;
      if (readable && (check.revents & POLLIN) != 0) {
        // Something to read (the preface, or an EOF gRPC will see):
        // gRPC's from now on.
        it->handed_over = true;
        ready.push_back(it->fd);
        ++it;
        continue;
      }
      if (readable || now >= it->deadline) {
        // Hung up or silent too long: never shown to gRPC.
        if (!readable) timed_out_.fetch_add(1);
        close(it->fd);
        it = open_.erase(it);
        continue;
      }
      waiting->push_back(it->fd);
      next = std::min(next, it->deadline);
      ++it;
    }
  }
  for (int fd : ready) grpc::AddInsecureChannelFromFd(server, fd);
  return next;
}

void UnixListener::Stop() {
  if (fd_ < 0) return;
  stopping_.store(true);
  const uint64_t one = 1;
  // Wakes the acceptor's poll.
  if (write(wake_, &one, sizeof(one)) < 0) shutdown(fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  close(fd_);
  fd_ = -1;
  close(wake_);
  wake_ = -1;
  // Connections still waiting for their first bytes were never handed over.
  absl::MutexLock lock(&mu_);
  for (const Open& open : open_) {
    if (!open.handed_over) close(open.fd);
  }
  open_.clear();
  unlink(path_.c_str());
}

UnixListener::~UnixListener() { Stop(); }

std::optional<uint32_t> UnixPeerUid(absl::string_view peer) {
  if (!absl::ConsumePrefix(&peer, "fd:")) return std::nullopt;
  int fd = -1;
  if (!absl::SimpleAtoi(peer, &fd) || fd < 0) return std::nullopt;
  int domain = 0;
  socklen_t size = sizeof(domain);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) != 0 ||
      domain != AF_UNIX) {
    return std::nullopt;
  }
  ucred credentials{};
  size = sizeof(credentials);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(credentials.uid);
}

}  // namespace sigil::client::agent
