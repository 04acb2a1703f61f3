#include "server/store/records.h"

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "server/store/layout.h"
#include "sigil/v1/identity.pb.h"
#include "sigil/v1/storage.pb.h"
#include "wire/revocation_event.h"

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

sigil::v1::KeyStage ToStoredStage(KeyRecord::Stage stage) {
  switch (stage) {
    case KeyRecord::Stage::kUnstaged:
      return sigil::v1::KEY_STAGE_UNSPECIFIED;
    case KeyRecord::Stage::kNext:
      return sigil::v1::NEXT;
    case KeyRecord::Stage::kActive:
      return sigil::v1::ACTIVE;
    case KeyRecord::Stage::kRetired:
      return sigil::v1::RETIRED;
  }
  return sigil::v1::KEY_STAGE_UNSPECIFIED;
}

std::optional<KeyRecord::Stage> FromStoredStage(sigil::v1::KeyStage stage) {
  switch (stage) {
    case sigil::v1::KEY_STAGE_UNSPECIFIED:
      return KeyRecord::Stage::kUnstaged;
    case sigil::v1::NEXT:
      return KeyRecord::Stage::kNext;
    case sigil::v1::ACTIVE:
      return KeyRecord::Stage::kActive;
    case sigil::v1::RETIRED:
      return KeyRecord::Stage::kRetired;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string EncodeRevocation(const token::Revocation& revocation) {
  return Frame(absl::ToUnixMicros(revocation.expires_at),
               wire::ToEvent(revocation).SerializeAsString());
}

std::optional<token::Revocation> DecodeRevocation(absl::string_view value) {
  int64_t expires_us = 0;
  absl::string_view record;
  sigil::v1::RevocationEvent event;
  if (!Unframe(value, &expires_us, &record) ||
      !event.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return std::nullopt;
  }
  return wire::FromEvent(event);
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
  stored.set_stage(ToStoredStage(key.stage));
  if (key.activated != absl::InfinitePast()) {
    SetTime(key.activated, stored.mutable_activated());
  }
  if (key.retired != absl::InfinitePast()) {
    SetTime(key.retired, stored.mutable_retired());
  }
  return stored.SerializeAsString();
}

std::optional<KeyRecord> DecodeKey(absl::string_view value) {
  sigil::v1::StoredKey stored;
  if (!stored.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return std::nullopt;
  }
  // A stage this build does not know cannot be served safely.
  const std::optional<KeyRecord::Stage> stage = FromStoredStage(stored.stage());
  if (!stage.has_value()) return std::nullopt;
  KeyRecord key{stored.kid(), stored.algorithm(), Time(stored.created()),
                *stage};
  if (stored.has_activated()) key.activated = Time(stored.activated());
  if (stored.has_retired()) key.retired = Time(stored.retired());
  return key;
}

}  // namespace sigil::server::store
