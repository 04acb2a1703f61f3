#include "server/auth/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "token/json.h"
#include "token/utf8.h"

namespace sigil::server::auth {
namespace {

// Each byte that starts no well-formed UTF-8 sequence becomes U+FFFD, so the
// line stays valid JSON and still shows where the bad bytes were.
std::string ValidUtf8(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = token::Utf8SequenceLength(s, i);
    if (len == 0) {
      out.append("\xef\xbf\xbd");
      ++i;
    } else {
      out.append(s.data() + i, len);
      i += len;
    }
  }
  return out;
}

token::JsonValue Text(absl::string_view s) {
  return token::JsonValue::String(ValidUtf8(s));
}

}  // namespace

absl::string_view AuditActionName(AuditAction action) {
  switch (action) {
    case AuditAction::kIssue:
      return "Issue";
    case AuditAction::kRefresh:
      return "Refresh";
    case AuditAction::kLogoutFromSystem:
      return "LogoutFromSystem";
    case AuditAction::kLogoutAll:
      return "LogoutAll";
    case AuditAction::kRevoke:
      return "Revoke";
    case AuditAction::kRotateKeys:
      return "RotateKeys";
  }
  return "Unknown";
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    const std::string& path, const token::Clock* clock) {
  if (path == "-") {
    return std::unique_ptr<AuditLog>(
        new AuditLog(path, STDOUT_FILENO, /*owns_fd=*/false, clock));
  }
  const int fd =
      open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open audit log ", path));
  }
  return std::unique_ptr<AuditLog>(
      new AuditLog(path, fd, /*owns_fd=*/true, clock));
}

AuditLog::AuditLog(std::string path, int fd, bool owns_fd,
                   const token::Clock* clock)
    : path_(std::move(path)), fd_(fd), owns_fd_(owns_fd), clock_(clock) {}

AuditLog::~AuditLog() {
  if (owns_fd_) close(fd_);
}

absl::Status AuditLog::Record(const AuditEvent& event) {
  std::vector<token::JsonValue> systems;
  systems.reserve(event.systems.size());
  for (const std::string& system : event.systems) {
    systems.push_back(Text(system));
  }
  std::vector<token::JsonValue::Member> members;
  members.emplace_back(
      "time", token::JsonValue::String(absl::FormatTime(
                  "%Y-%m-%dT%H:%M:%E6SZ", clock_->Now(), absl::UTCTimeZone())));
  members.emplace_back("principal", Text(event.principal));
  if (!event.on_behalf_of.empty()) {
    members.emplace_back("on_behalf_of", Text(event.on_behalf_of));
  }
  members.emplace_back(
      "action",
      token::JsonValue::String(std::string(AuditActionName(event.action))));
  members.emplace_back("subject", Text(event.subject));
  members.emplace_back("systems", token::JsonValue::Array(std::move(systems)));
  if (!event.session_id.empty()) {
    members.emplace_back("session_id", Text(event.session_id));
  }
  if (!event.token_id.empty()) {
    members.emplace_back("token_id", Text(event.token_id));
  }
  members.emplace_back(
      "result",
      token::JsonValue::String(absl::StatusCodeToString(event.result.code())));
  if (!event.result.ok()) {
    members.emplace_back("message", Text(event.result.message()));
  }
  const std::string line = absl::StrCat(
      token::JsonValue::Object(std::move(members)).Serialize(), "\n");

  absl::MutexLock lock(&write_mu_);
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const absl::Status error = absl::ErrnoToStatus(
          n < 0 ? errno : EIO, absl::StrCat("cannot write audit log ", path_));
      return absl::UnavailableError(error.message());
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace sigil::server::auth
