#include "server/auth/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

// Calls that changed nothing, which anyone able to connect can make.
bool Refused(const absl::Status& result) {
  switch (result.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return true;
    default:
      return false;
  }
}

// At most `max` bytes of `s`, not ending inside a UTF-8 sequence.
absl::string_view Cut(absl::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  // A sequence is at most 4 bytes: back up over at most 3 continuations.
  while (end > 0 && max - end < 3 &&
         (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) {
    --end;
  }
  return s.substr(0, end);
}

std::string Timestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
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
    const std::string& path, const token::Clock* clock,
    const AuditLimits& limits) {
  if (path == "-") {
    return std::unique_ptr<AuditLog>(
        new AuditLog(path, STDOUT_FILENO, /*owns_fd=*/false, clock, limits));
  }
  const int fd =
      open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open audit log ", path));
  }
  return std::unique_ptr<AuditLog>(
      new AuditLog(path, fd, /*owns_fd=*/true, clock, limits));
}

AuditLog::AuditLog(std::string path, int fd, bool owns_fd,
                   const token::Clock* clock, const AuditLimits& limits)
    : path_(std::move(path)),
      fd_(fd),
      owns_fd_(owns_fd),
      clock_(clock),
      limits_(limits) {}

AuditLog::~AuditLog() {
  // Suppressed runs not yet summarized are counted before the log closes.
  std::vector<std::string> summaries;
  {
    absl::MutexLock lock(&limit_mu_);
    for (auto& [principal, bucket] : buckets_) {
      Summarize(principal, bucket, &summaries);
    }
  }
  std::string text;
  for (const std::string& summary : summaries) text += summary;
  if (!text.empty()) Write(text).IgnoreError();
  if (owns_fd_) close(fd_);
}

std::pair<const std::string, AuditLog::Bucket>& AuditLog::BucketOf(
    const std::string& principal, absl::Time now) {
  auto found = buckets_.find(principal);
  if (found != buckets_.end()) return *found;
  if (buckets_.size() >= limits_.max_principals) {
    // Drop buckets that are full again and owe no summary: forgetting them
    // changes nothing.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      const Bucket& b = it->second;
      const double lines =
          b.lines + absl::ToDoubleSeconds(
                        std::max(now - b.refilled, absl::ZeroDuration())) *
                        limits_.refused_per_second;
      if (b.suppressed == 0 && lines >= limits_.refused_burst) {
        buckets_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  // Still full: the rest share one bucket, so the map stays bounded.
  const std::string& key =
      buckets_.size() >= limits_.max_principals ? "*" : principal;
  auto [it, inserted] = buckets_.try_emplace(key);
  if (inserted) {
    it->second.lines = limits_.refused_burst;
    it->second.refilled = now;
  }
  return *it;
}

void AuditLog::Summarize(const std::string& principal, Bucket& bucket,
                         std::vector<std::string>* summaries) const {
  if (bucket.suppressed == 0) return;
  std::vector<token::JsonValue::Member> members;
  members.emplace_back("time", token::JsonValue::String(Timestamp(std::max(
                                   clock_->Now(), bucket.last_suppressed))));
  members.emplace_back("principal", Text(principal));
  members.emplace_back("action", token::JsonValue::String("AuditSuppressed"));
  members.emplace_back("suppressed",
                       token::JsonValue::Number(bucket.suppressed));
  members.emplace_back(
      "first", token::JsonValue::String(Timestamp(bucket.first_suppressed)));
  members.emplace_back(
      "last", token::JsonValue::String(Timestamp(bucket.last_suppressed)));
  summaries->push_back(absl::StrCat(
      token::JsonValue::Object(std::move(members)).Serialize(), "\n"));
  bucket.suppressed = 0;
}

bool AuditLog::Admit(const std::string& principal, absl::Time now,
                     std::vector<std::string>* summaries) {
  // The principal is the bucket's key: cut as its line would be.
  auto& [key, bucket] =
      BucketOf(std::string(Cut(principal, limits_.refused_field_bytes)), now);
  // A clock stepping back refills nothing.
  const absl::Duration elapsed =
      std::max(now - bucket.refilled, absl::ZeroDuration());
  bucket.lines = std::min(limits_.refused_burst,
                          bucket.lines + absl::ToDoubleSeconds(elapsed) *
                                             limits_.refused_per_second);
  bucket.refilled = std::max(bucket.refilled, now);
  if (bucket.lines < 1) {
    if (bucket.suppressed == 0) bucket.first_suppressed = now;
    bucket.last_suppressed = now;
    ++bucket.suppressed;
    return false;
  }
  // Refilled after a suppressed run: its count comes first.
  Summarize(key, bucket, summaries);
  bucket.lines -= 1;
  return true;
}

absl::Status AuditLog::Record(const AuditEvent& event) {
  const absl::Time now = clock_->Now();
  const bool refused = Refused(event.result);
  std::vector<std::string> summaries;
  bool admitted = true;
  {
    absl::MutexLock lock(&limit_mu_);
    if (refused) admitted = Admit(event.principal, now, &summaries);
    // At most once a second, the suppressed runs whose buckets hold a line
    // again are summarized, whoever's call brought us here.
    if (now - last_sweep_ >= absl::Seconds(1) || now < last_sweep_) {
      last_sweep_ = now;
      for (auto& [principal, bucket] : buckets_) {
        const double lines =
            bucket.lines + absl::ToDoubleSeconds(std::max(
                               now - bucket.refilled, absl::ZeroDuration())) *
                               limits_.refused_per_second;
        if (lines >= 1) Summarize(principal, bucket, &summaries);
      }
    }
  }
  std::string text;
  for (const std::string& summary : summaries) text += summary;
  if (admitted) text += Line(event, now, refused);
  if (text.empty()) return absl::OkStatus();
  return Write(text);
}

std::string AuditLog::Line(const AuditEvent& event, absl::Time now,
                           bool refused) const {
  // A refused call's strings are the caller's to choose: cut, with their
  // length, so one call writes a bounded line (control characters escape
  // to 6 bytes each).
  const size_t cap = refused ? limits_.refused_field_bytes : std::string::npos;
  std::vector<token::JsonValue::Member> members;
  auto add = [&](const char* name, absl::string_view value) {
    members.emplace_back(name, Text(Cut(value, cap)));
    if (value.size() > cap) {
      members.emplace_back(
          absl::StrCat(name, "_bytes"),
          token::JsonValue::Number(static_cast<int64_t>(value.size())));
    }
  };
  const size_t listed =
      refused ? std::min(event.systems.size(), limits_.refused_systems)
              : event.systems.size();
  std::vector<token::JsonValue> systems;
  systems.reserve(listed);
  for (size_t i = 0; i < listed; ++i) {
    systems.push_back(Text(Cut(event.systems[i], cap)));
  }
  members.emplace_back("time", token::JsonValue::String(Timestamp(now)));
  add("principal", event.principal);
  if (!event.on_behalf_of.empty()) {
    members.emplace_back("on_behalf_of", Text(event.on_behalf_of));
  }
  members.emplace_back(
      "action",
      token::JsonValue::String(std::string(AuditActionName(event.action))));
  add("subject", event.subject);
  members.emplace_back("systems", token::JsonValue::Array(std::move(systems)));
  if (listed < event.systems.size()) {
    members.emplace_back(
        "systems_count",
        token::JsonValue::Number(static_cast<int64_t>(event.systems.size())));
  }
  if (!event.session_id.empty()) {
    members.emplace_back("session_id", Text(event.session_id));
  }
  if (!event.token_id.empty()) {
    members.emplace_back("token_id", Text(event.token_id));
  }
  members.emplace_back(
      "result",
      token::JsonValue::String(absl::StatusCodeToString(event.result.code())));
  if (!event.result.ok()) add("message", event.result.message());
  return absl::StrCat(token::JsonValue::Object(std::move(members)).Serialize(),
                      "\n");
}

absl::Status AuditLog::Write(const std::string& line) {
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
