#ifndef SIGIL_CLIENT_AGENT_UNIX_PEER_H_
#define SIGIL_CLIENT_AGENT_UNIX_PEER_H_

#include <grpcpp/server.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sigil::client::agent {

// UnixListener's caps on open connections.
struct UnixListenerLimits {
  size_t max_connections = 1024;
  size_t max_connections_per_uid = 256;
  // A connection that has sent nothing by then (not even the HTTP/2
  // preface) is closed before gRPC ever sees it.
  absl::Duration handshake_timeout = absl::Seconds(10);
};

// sigil-agent's unix socket, accepted by the agent itself so that each
// caller is known by its kernel-reported uid (SO_PEERCRED): gRPC's own unix
// listener exposes no peer credentials, so each accepted connection is
// handed to the gRPC server with grpc::AddInsecureChannelFromFd, whose calls
// then name their peer "fd:N", and UnixPeerUid reads the uid back from that
// socket while the call runs (the connection, hence the descriptor, lives
// at least as long as its calls, so N cannot name another socket by then).
//
// Open connections are capped, in total and per uid, so that one local
// user cannot take every descriptor: a connection beyond a cap is closed at
// once and counted (refused()). A connection counts as open from its accept
// until gRPC closes its descriptor (checked by the descriptor's inode at
// each accept); it is handed to gRPC only once it has sent something, and
// closed (timed_out()) if it sends nothing within the handshake timeout.
// Transient accept failures (out of descriptors or memory, an aborted
// connection) are retried with a pause; any other stops accepting, logged,
// and accepting() turns false so that the agent reports itself not ready
// rather than silently serving no one.
//
// Listen, Serve and Stop from one thread; the counters from any thread.
class UnixListener {
 public:
  using Limits = UnixListenerLimits;

  // Binds and listens on `path`, replacing a stale socket file there (never
  // another kind of file). FAILED_PRECONDITION "cannot listen on unix:PATH"
  // with the errno's text.
  static absl::StatusOr<std::unique_ptr<UnixListener>> Listen(
      const std::string& path, Limits limits = {});

  // Accepts connections on a thread of its own and hands each to `server`
  // (started, not owned, outliving Stop).
  void Serve(grpc::Server* server);
  // Stops accepting and removes the socket file; connections already handed
  // over stay with the server. Idempotent.
  void Stop();
  ~UnixListener();

  // False once accepting failed for good (until then, and after Stop,
  // true).
  bool accepting() const { return !failed_.load(std::memory_order_relaxed); }
  // Connections closed at once for a cap, since Listen.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // Connections closed for sending nothing within the handshake timeout.
  uint64_t timed_out() const {
    return timed_out_.load(std::memory_order_relaxed);
  }
  // Connections accepted and not yet seen closed (waiting or handed over).
  size_t open_connections() const {
    absl::MutexLock lock(&mu_);
    return open_.size();
  }

 private:
  // A connection handed over: its descriptor, that descriptor's inode then
  // (a closed and reused descriptor shows another), and its peer's uid.
  struct Open {
    int fd;
    ino_t inode;
    uint32_t uid;
    bool handed_over;
    absl::Time deadline;  // of the handshake, until handed over
  };

  UnixListener(std::string path, int fd, int wake, Limits limits)
      : path_(std::move(path)), fd_(fd), wake_(wake), limits_(limits) {}
  void AcceptLoop(grpc::Server* server);
  // Accepts one connection: to wait for its first bytes, or closed when a
  // cap is reached. False when accepting failed for good.
  bool AcceptOne();
  // Hands over the waiting connections that sent something, closes those
  // that hung up or whose handshake deadline passed; returns the earliest
  // deadline still pending (InfiniteFuture when none) and fills `waiting`.
  absl::Time Sweep(grpc::Server* server, std::vector<int>* waiting);

  const std::string path_;
  int fd_;
  int wake_;  // an eventfd: Stop wakes the acceptor's poll
  const Limits limits_;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> timed_out_{0};
  mutable absl::Mutex mu_;
  std::vector<Open> open_ ABSL_GUARDED_BY(mu_);
};

// The uid of the unix socket peer of a call whose ServerContext::peer() is
// `peer`, when that is "fd:N" and N is a connected unix socket; nullopt for
// every other peer (TCP, TLS). The "fd:N" form is gRPC's, not a documented
// contract: unix_peer_test fails loudly if an upgrade changes it (every
// unix caller would otherwise become "<anonymous>").
std::optional<uint32_t> UnixPeerUid(absl::string_view peer);

}  // namespace sigil::client::agent

#endif  // SIGIL_CLIENT_AGENT_UNIX_PEER_H_
