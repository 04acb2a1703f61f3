#ifndef SIGIL_WIRE_TLS_H_
#define SIGIL_WIRE_TLS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigil::wire {

// PEM files of one side of a TLS connection. Empty cert and key: plaintext.
struct TlsFiles {
  std::string cert;  // certificate chain, leaf first
  std::string key;   // its private key
  // Server: the CA that client certificates must chain to; given, every
  // client must present one (mTLS). Client: the CA the server's certificate
  // must chain to.
  std::string ca;
};

// True for unix sockets and loopback addresses given as literal IPs
// (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) or the name
// localhost: the only places a server may serve plaintext without being
// told it is behind something that terminates mTLS for it.
bool IsLocalAddress(absl::string_view listen);

// Server credentials from `files`: plaintext when no cert and key are
// given; TLS with them; and with a CA, client certificates required and
// verified against it. FAILED_PRECONDITION naming the file that cannot be
// read, or a cert without a key.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsFiles& files);

// Client credentials to reach such a server: plaintext when `files` is
// empty; else TLS trusting files.ca (the system roots when empty),
// presenting files.cert and files.key when given.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const TlsFiles& files);

}  // namespace sigil::wire

#endif  // SIGIL_WIRE_TLS_H_
