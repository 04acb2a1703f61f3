#ifndef SIGIL_SERVER_AUTH_AUDIT_LOG_H_
#define SIGIL_SERVER_AUTH_AUDIT_LOG_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "token/clock.h"

namespace sigil::server::auth {

// The state-changing calls the audit log records.
enum class AuditAction {
  kIssue,
  kRefresh,
  kLogoutFromSystem,
  kLogoutAll,
  kRevoke,
  kRotateKeys,
};

// One audited call. There is deliberately no field for a token or key
// material: identifiers (session, token id) are all an auditor needs.
struct AuditEvent {
  std::string principal;  // PrincipalOf(caller)
  // The caller an agent principal forwarded the call for (its
  // sigil-on-behalf-of header); omitted when empty.
  std::string on_behalf_of;
  AuditAction action = AuditAction::kIssue;
  std::string subject;               // empty when not known (RotateKeys)
  std::vector<std::string> systems;  // as requested, or the token's
  std::string session_id;            // omitted when empty
  std::string token_id;              // the "jti"; omitted when empty
  // The call's outcome; its message is written on failure, so it must not
  // hold a token either.
  absl::Status result;
};

// Appends one JSON object per event, one line each, to its own file (never
// the diagnostic log):
//   {"time":"2024-05-01T12:00:00.123456Z","principal":"spiffe://...",
//    ["on_behalf_of":"unix-uid:1000",]
//    "action":"Issue","subject":"alice","systems":["A"],
//    "session_id":"...","result":"OK"}
// with "message" after "result" on failure. Strings are escaped per RFC
// 8259 and invalid UTF-8 becomes U+FFFD, so every line parses whatever
// bytes a request carried. Lines reach the kernel before Record returns;
// they are not fsynced.
//
// Thread-safe: Record may be called from any number of threads and lines
// never interleave.
class AuditLog {
 public:
  // Opens `path` for appending, creating it with mode 0600; "-" is standard
  // output. `clock` stamps the lines and must outlive the log. The errno's
  // status naming the path when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      const std::string& path, const token::Clock* clock);

  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Writes the event's line with one write(2) on the O_APPEND descriptor
  // (continued only where the kernel takes part of it, as a pipe may).
  // UNAVAILABLE naming the path when the line could not be written whole;
  // the caller decides whether the audited call then fails.
  absl::Status Record(const AuditEvent& event);

 private:
  AuditLog(std::string path, int fd, bool owns_fd, const token::Clock* clock);

  const std::string path_;
  const int fd_;
  const bool owns_fd_;
  const token::Clock* const clock_;
  // Serializes writes so that even a pipe, where a write above PIPE_BUF may
  // be split, gets whole lines.
  absl::Mutex write_mu_;
};

// "Issue", "LogoutFromSystem", ...: the RPC's name.
absl::string_view AuditActionName(AuditAction action);

}  // namespace sigil::server::auth

#endif  // SIGIL_SERVER_AUTH_AUDIT_LOG_H_
