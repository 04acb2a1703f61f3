#ifndef SIGIL_SERVER_STORE_LAYOUT_H_
#define SIGIL_SERVER_STORE_LAYOUT_H_

// The on-disk layout of RocksStore: column families, keys and value framing.
// Internal to server/store and its tests; changing anything here means
// bumping kFormatVersion.
//
// Column family    key                               value
// sessions         "s/" subject '\0' session_id       Frame(StoredSession)
//                  "c/" subject '\0' system Frame(StoredSessionCounter)
//                  "c/" subject '\0'         the same, for logouts everywhere
//                  "r/" sha256(refresh token)        Frame(StoredRefreshToken)
// revocations      see RevocationKey                 Frame(RevocationEvent)
// events           EncodeFixed64(seq)                Frame(RevocationEvent)
// keys             kid                               StoredKey
// meta             "format_version", "last_seq",     EncodeFixed64(value)
//                  "tick_lease", "max_not_before",
//                  "keys_version"
//                  "store_id"                        32 hex digits
//
// Subjects never contain '\0' (the store rejects them), so a subject's
// counters and sessions are exactly the keys starting with CounterPrefix
// and SessionPrefix of it. Systems are never empty, so CounterKey(subject,
// "") is free for the subject-wide entry.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "token/revocation_index.h"

namespace sigil::server::store {

// RocksDB lives in this subdirectory of the data dir, next to keys/.
inline constexpr char kDbSubdir[] = "db";

inline constexpr char kSessionsFamily[] = "sessions";
inline constexpr char kRevocationsFamily[] = "revocations";
inline constexpr char kEventsFamily[] = "events";
inline constexpr char kKeysFamily[] = "keys";
inline constexpr char kMetaFamily[] = "meta";

// The format this code writes, and the newest it can read.
inline constexpr uint64_t kFormatVersion = 1;

inline constexpr char kFormatVersionKey[] = "format_version";
inline constexpr char kLastSeqKey[] = "last_seq";
// The highest instant reserved by ReserveTicks.
inline constexpr char kTickLeaseKey[] = "tick_lease";
// The highest not_before of any revocation ever appended.
inline constexpr char kMaxNotBeforeKey[] = "max_not_before";
inline constexpr char kStoreIdKey[] = "store_id";
// Bumped by every write of the keys family: what UpdateKeys compares.
inline constexpr char kKeysVersionKey[] = "keys_version";

// 8 bytes big-endian, so that event keys sort in seq order. Signed values
// are stored as their two's complement.
std::string EncodeFixed64(uint64_t value);
bool DecodeFixed64(absl::string_view in, uint64_t* value);

// Values that expire carry their expiry (unix micros, EncodeFixed64 of the
// two's complement) before the serialized record, so the compaction filter
// decides without parsing protos.
std::string Frame(int64_t expires_us, absl::string_view record);
// False when `value` is too short to hold the expiry.
bool Unframe(absl::string_view value, int64_t* expires_us,
             absl::string_view* record);

// One key per revocation target, so a new revocation of the same target
// merges with the old one: "t/" token_id, "s/" session_id,
// "x/" subject '\0' system, "u/" subject.
std::string RevocationKey(const token::Revocation& revocation);

// Counter and revocation keys end the subject with '\0': INVALID_ARGUMENT
// for a subject that contains one.
absl::Status CheckSubject(absl::string_view subject);

std::string SessionKey(absl::string_view subject, absl::string_view session_id);
std::string SessionPrefix(absl::string_view subject);
std::string RefreshKey(absl::string_view hash);
std::string CounterKey(absl::string_view subject, absl::string_view system);
std::string CounterPrefix(absl::string_view subject);

}  // namespace sigil::server::store

#endif  // SIGIL_SERVER_STORE_LAYOUT_H_
