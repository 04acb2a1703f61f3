#ifndef SIGIL_SERVER_AUTH_AUDIT_LOG_H_
#define SIGIL_SERVER_AUTH_AUDIT_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
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

// Bounds on what refused calls (INVALID_ARGUMENT, PERMISSION_DENIED,
// UNAUTHENTICATED: the call changed nothing) make the log write, so that a
// caller holding no grant cannot fill the disk the audited calls need.
struct AuditLimits {
  // A refused call's strings are cut to this many bytes (on a UTF-8
  // boundary), with "<field>_bytes" giving the original length; at most
  // `refused_systems` of its systems are listed, with "systems_count".
  size_t refused_field_bytes = 256;
  size_t refused_systems = 8;
  // A token bucket per principal for refused calls: `refused_burst` lines
  // at once, refilled at `refused_per_second`. Lines beyond it are counted,
  // not written; one "AuditSuppressed" line per principal gives the count
  // once its bucket has refilled (see AuditLog).
  double refused_burst = 60;
  double refused_per_second = 1;
  // Buckets kept at most; idle ones are dropped first, and beyond this the
  // remaining principals share one bucket (principal "*").
  size_t max_principals = 4096;
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
// they are not fsynced. Refused calls are bounded by AuditLimits; a
// suppressed run of them is summarized as
//   {"time":...,"principal":...,"action":"AuditSuppressed",
//    "suppressed":12,"first":"<time>","last":"<time>"}
// written before the principal's next line once its bucket holds a line
// again, at the first Record (of anyone) a second or more after that, or
// when the log closes.
//
// Thread-safe: Record may be called from any number of threads and lines
// never interleave.
class AuditLog {
 public:
  // Opens `path` for appending, creating it with mode 0600; "-" is standard
  // output. `clock` stamps the lines and must outlive the log. The errno's
  // status naming the path when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      const std::string& path, const token::Clock* clock,
      const AuditLimits& limits = AuditLimits());

  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Writes the event's line with one write(2) on the O_APPEND descriptor
  // (continued only where the kernel takes part of it, as a pipe may).
  // UNAVAILABLE naming the path when the line could not be written whole;
  // the caller decides whether the audited call then fails. A refused
  // call's line suppressed by its principal's bucket is OK: it is counted.
  absl::Status Record(const AuditEvent& event);

 private:
  struct Bucket {
    double lines = 0;
    absl::Time refilled;
    int64_t suppressed = 0;
    absl::Time first_suppressed;
    absl::Time last_suppressed;
  };

  AuditLog(std::string path, int fd, bool owns_fd, const token::Clock* clock,
           const AuditLimits& limits);

  // Refills `principal`'s bucket and takes a line from it; false when
  // empty. Appends to `summaries` the lines of suppressed runs now due.
  bool Admit(const std::string& principal, absl::Time now,
             std::vector<std::string>* summaries)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(limit_mu_);
  // The principal's bucket (or the shared one, when too many are kept),
  // full when new.
  std::pair<const std::string, Bucket>& BucketOf(const std::string& principal,
                                                 absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(limit_mu_);
  // Appends the summary of `bucket`'s suppressed run, if any, and resets it.
  void Summarize(const std::string& principal, Bucket& bucket,
                 std::vector<std::string>* summaries) const;
  // The event's JSON line, cut as AuditLimits says when `refused`.
  std::string Line(const AuditEvent& event, absl::Time now, bool refused) const;
  // Appends `text` whole, under write_mu_.
  absl::Status Write(const std::string& text);

  const std::string path_;
  const int fd_;
  const bool owns_fd_;
  const token::Clock* const clock_;
  const AuditLimits limits_;
  absl::Mutex limit_mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(limit_mu_);
  absl::Time last_sweep_ ABSL_GUARDED_BY(limit_mu_) = absl::InfinitePast();
  // Serializes writes so that even a pipe, where a write above PIPE_BUF may
  // be split, gets whole lines.
  absl::Mutex write_mu_;
};

// "Issue", "LogoutFromSystem", ...: the RPC's name.
absl::string_view AuditActionName(AuditAction action);

}  // namespace sigil::server::auth

#endif  // SIGIL_SERVER_AUTH_AUDIT_LOG_H_
