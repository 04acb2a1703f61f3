#include "server/store/records.h"

#include <algorithm>

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
  for (const std::string& scope : session.scopes) {
    stored.add_scopes(scope);
  }
  SetTime(session.created, stored.mutable_created());
  SetTime(session.expires_at, stored.mutable_expires_at());
  stored.set_created_us(session.created_us);
  if (session.last_refreshed != absl::InfinitePast()) {
    SetTime(session.last_refreshed, stored.mutable_last_refreshed());
  }
  SetTime(session.idle_expires_at, stored.mutable_idle_expires_at());
  *stored.mutable_access_ttl() =
      google::protobuf::util::TimeUtil::MicrosecondsToDuration(
          absl::ToInt64Microseconds(session.access_ttl));
  stored.set_refresh_secret(session.refresh_secret);
  stored.set_revision(session.revision);
  // An idle session is as dead as an expired one: the compaction filter
  // may drop it then.
  return Frame(
      absl::ToUnixMicros(std::min(session.idle_expires_at, session.expires_at)),
      stored.SerializeAsString());
}

std::optional<Session> DecodeSession(absl::string_view value) {
  int64_t expires_us = 0;
  absl::string_view record;
  sigil::v1::StoredSession stored;
  if (!Unframe(value, &expires_us, &record) ||
      !stored.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return std::nullopt;
  }
  Session session;
  session.session_id = stored.session_id();
  session.subject = stored.subject();
  session.systems.assign(stored.systems().begin(), stored.systems().end());
  session.scopes.assign(stored.scopes().begin(), stored.scopes().end());
  session.created = Time(stored.created());
  session.created_us = stored.created_us();
  if (stored.has_last_refreshed()) {
    session.last_refreshed = Time(stored.last_refreshed());
  }
  session.idle_expires_at = Time(stored.idle_expires_at());
  session.expires_at = Time(stored.expires_at());
  session.access_ttl = absl::Microseconds(
      google::protobuf::util::TimeUtil::DurationToMicroseconds(
          stored.access_ttl()));
  session.refresh_secret = stored.refresh_secret();
  session.revision = stored.revision();
  return session;
}

std::string EncodeRefreshToken(const RefreshToken& token, absl::Time expires) {
  sigil::v1::StoredRefreshToken stored;
  stored.set_subject(token.subject);
  stored.set_session_id(token.session_id);
  if (token.spent()) SetTime(token.rotated_at, stored.mutable_rotated_at());
  return Frame(absl::ToUnixMicros(expires), stored.SerializeAsString());
}

std::optional<RefreshToken> DecodeRefreshToken(absl::string_view hash,
                                               absl::string_view value) {
  int64_t expires_us = 0;
  absl::string_view record;
  sigil::v1::StoredRefreshToken stored;
  if (!Unframe(value, &expires_us, &record) ||
      !stored.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return std::nullopt;
  }
  RefreshToken token;
  token.hash = std::string(hash);
  token.subject = stored.subject();
  token.session_id = stored.session_id();
  if (stored.has_rotated_at()) token.rotated_at = Time(stored.rotated_at());
  return token;
}

std::string EncodeCounter(const SessionCounter& counter) {
  sigil::v1::StoredSessionCounter stored;
  stored.set_sessions(counter.sessions);
  SetMicros(counter.expires_us, stored.mutable_expires_at());
  stored.set_logged_out_us(counter.logged_out_us);
  stored.set_tokens_until_us(counter.tokens_until_us);
  return Frame(std::max(counter.expires_us, counter.tokens_until_us),
               stored.SerializeAsString());
}

std::optional<SessionCounter> DecodeCounter(absl::string_view value) {
  int64_t expires_us = 0;
  absl::string_view record;
  sigil::v1::StoredSessionCounter stored;
  if (!Unframe(value, &expires_us, &record) ||
      !stored.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return std::nullopt;
  }
  const int64_t expires = Micros(stored.expires_at());
  // A record written before the watermark existed: its sessions' expiry
  // is the best bound it has.
  const int64_t tokens_until =
      stored.tokens_until_us() != 0 ? stored.tokens_until_us() : expires;
  return SessionCounter{stored.sessions(), expires, stored.logged_out_us(),
                        tokens_until};
}

std::optional<Session> AliveSession(
    Session session, const std::map<std::string, SessionCounter>& counters,
    absl::Time now) {
  if (now >= session.expires_at || now >= session.idle_expires_at) {
    return std::nullopt;
  }
  auto logged_out_us = [&](const std::string& system) -> int64_t {
    auto it = counters.find(system);
    return it == counters.end() ? 0 : it->second.logged_out_us;
  };
  const int64_t everywhere = logged_out_us("");
  // A logout covers sessions created strictly before its instant, as it
  // covers tokens.
  session.systems.erase(
      std::remove_if(session.systems.begin(), session.systems.end(),
                     [&](const std::string& system) {
                       return session.created_us <
                              std::max(everywhere, logged_out_us(system));
                     }),
      session.systems.end());
  if (session.systems.empty()) return std::nullopt;
  return session;
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
  stored.set_sealed_private_key(key.sealed_private_key);
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
  key.sealed_private_key = stored.sealed_private_key();
  return key;
}

}  // namespace sigil::server::store
