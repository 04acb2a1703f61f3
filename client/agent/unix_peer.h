#ifndef SIGIL_CLIENT_AGENT_UNIX_PEER_H_
#define SIGIL_CLIENT_AGENT_UNIX_PEER_H_

#include <grpcpp/server.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigil::client::agent {

// sigil-agent's unix socket, accepted by the agent itself so that each
// caller is known by its kernel-reported uid (SO_PEERCRED): gRPC's own unix
// listener exposes no peer credentials, so each accepted connection is
// handed to the gRPC server with grpc::AddInsecureChannelFromFd, whose calls
// then name their peer "fd:N", and UnixPeerUid reads the uid back from that
// socket while the call runs (the connection, hence the descriptor, lives
// at least as long as its calls, so N cannot name another socket by then).
//
// Not thread-safe itself: Listen, Serve and Stop from one thread.
class UnixListener {
 public:
  // Binds and listens on `path`, replacing a stale socket file there (never
  // another kind of file). FAILED_PRECONDITION "cannot listen on unix:PATH"
  // with the errno's text.
  static absl::StatusOr<std::unique_ptr<UnixListener>> Listen(
      const std::string& path);

  // Accepts connections on a thread of its own and hands each to `server`
  // (started, not owned, outliving Stop).
  void Serve(grpc::Server* server);
  // Stops accepting and removes the socket file; connections already handed
  // over stay with the server. Idempotent.
  void Stop();
  ~UnixListener();

 private:
  UnixListener(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  void AcceptLoop(grpc::Server* server);

  const std::string path_;
  int fd_;
  std::thread acceptor_;
};

// The uid of the unix socket peer of a call whose ServerContext::peer() is
// `peer`, when that is "fd:N" and N is a connected unix socket; nullopt for
// every other peer (TCP, TLS).
std::optional<uint32_t> UnixPeerUid(absl::string_view peer);

}  // namespace sigil::client::agent

#endif  // SIGIL_CLIENT_AGENT_UNIX_PEER_H_
