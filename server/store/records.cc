#include "server/store/records.h"

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "server/store/layout.h"
#include "sigil/v1/identity.pb.h"
#include "sigil/v1/storage.pb.h"

namespace sigil::server::store {
namespace {

using google::protobuf::util::TimeUtil;

void SetMicros(int64_t us, google::protobuf::Timestamp* out) {
  *out = TimeUtil::MicrosecondsToTimestamp(us);
}

int64_t Micros(const google::protobuf::Timestamp& t) {
  return TimeUtil::TimestampToMicroseconds(t);
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  SetMicros(absl::ToUnixMicros(t), out);
}

absl::Time Time(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(Micros(t));
}

sigil::v1::RevocationScope ToProto(token::RevocationScope scope) {
  switch (scope) {
    case token::RevocationScope::kToken:
      return sigil::v1::TOKEN;
    case token::RevocationScope::kSession:
      return sigil::v1::SESSION;
    case token::RevocationScope::kSubjectSystem:
      return sigil::v1::SUBJECT_SYSTEM;
    case token::RevocationScope::kSubject:
      return sigil::v1::SUBJECT;
  }
  return sigil::v1::REVOCATION_SCOPE_UNSPECIFIED;
}

std::optional<token::RevocationScope> FromProto(
    sigil::v1::RevocationScope scope) {
  switch (scope) {
    case sigil::v1::TOKEN:
      return token::RevocationScope::kToken;
    case sigil::v1::SESSION:
      return token::RevocationScope::kSession;
    case sigil::v1::SUBJECT_SYSTEM:
      return token::RevocationScope::kSubjectSystem;
    case sigil::v1::SUBJECT:
      return token::RevocationScope::kSubject;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string EncodeRevocation(const token::Revocation& revocation) {
  sigil::v1::RevocationEvent event;
  event.set_seq(revocation.seq);
  event.set_scope(ToProto(revocation.scope));
  event.set_subject(revocation.subject);
  event.set_system(revocation.system);
  event.set_session_id(revocation.session_id);
  event.set_token_id(revocation.token_id);
  SetMicros(revocation.not_before_us, event.mutable_not_before());
  SetTime(revocation.expires_at, event.mutable_expires_at());
  return Frame(absl::ToUnixMicros(revocation.expires_at),
               event.SerializeAsString());
}

std::optional<token::Revocation> DecodeRevocation(absl::string_view value) {
  int64_t expires_us = 0;
  absl::string_view record;
  sigil::v1::RevocationEvent event;
  if (!Unframe(value, &expires_us, &record) ||
      !event.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return std::nullopt;
  }
  std::optional<token::RevocationScope> scope = FromProto(event.scope());
  if (!scope.has_value()) return std::nullopt;
  token::Revocation revocation;
  revocation.seq = event.seq();
  revocation.scope = *scope;
  revocation.subject = event.subject();
  revocation.system = event.system();
  revocation.session_id = event.session_id();
  revocation.token_id = event.token_id();
  revocation.not_before_us = Micros(event.not_before());
  revocation.expires_at = Time(event.expires_at());
  return revocation;
}

std::string EncodeSession(const Session& session) {
  sigil::v1::StoredSession stored;
  stored.set_session_id(session.session_id);
  stored.set_subject(session.subject);
  for (const std::string& system : session.systems) {
    stored.add_systems(system);
  }
  SetTime(session.created, stored.mutable_created());
  SetTime(session.expires_at, stored.mutable_expires_at());
  return Frame(absl::ToUnixMicros(session.expires_at),
               stored.SerializeAsString());
}

std::string EncodeCounter(const SessionCounter& counter) {
  sigil::v1::StoredSessionCounter stored;
  stored.set_sessions(counter.sessions);
  SetMicros(counter.expires_us, stored.mutable_expires_at());
  return Frame(counter.expires_us, stored.SerializeAsString());
}

std::optional<SessionCounter> DecodeCounter(absl::string_view value) {
  int64_t expires_us = 0;
  absl::string_view record;
  sigil::v1::StoredSessionCounter stored;
  if (!Unframe(value, &expires_us, &record) ||
      !stored.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return std::nullopt;
  }
  return SessionCounter{stored.sessions(), Micros(stored.expires_at())};
}

std::string EncodeKey(const KeyRecord& key) {
  sigil::v1::StoredKey stored;
  stored.set_kid(key.kid);
  stored.set_algorithm(key.algorithm);
  SetTime(key.created, stored.mutable_created());
  return stored.SerializeAsString();
}

std::optional<KeyRecord> DecodeKey(absl::string_view value) {
  sigil::v1::StoredKey stored;
  if (!stored.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return std::nullopt;
  }
  return KeyRecord{stored.kid(), stored.algorithm(), Time(stored.created())};
}

}  // namespace sigil::server::store
