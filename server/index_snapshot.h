#ifndef SIGIL_SERVER_INDEX_SNAPSHOT_H_
#define SIGIL_SERVER_INDEX_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/store/store.h"
#include "token/clock.h"
#include "token/revocation_index.h"

namespace sigil::server {

// A snapshot of the in-memory revocation index, so that a restart loads a
// file and replays the few events after it instead of scanning the whole
// revocation table (docs/design.md, "Index snapshot"). It is a cache of the
// store, never the truth: it is used only when its checksums hold, it names
// the store it was taken from, it covers no seq the store has not
// assigned, and the store's event log reaches from its seq to the store's
// last seq without a gap. Otherwise the load falls back to the full scan.
//
// The file: a header (magic "SIGILIDX", format version, shard count, the
// seq it covers — every revocation with seq <= it is reflected —, when it
// was written, the entry count, the store id), a table of one section per
// index shard (offset, length, entry counts by scope, SHA-256 of the
// section), the SHA-256 of all of that, then the sections: entries of
// (scope, not_before_us, expires_at_us, key, system), integers little
// endian, lengths as varints. Expired entries are left out.

struct IndexSnapshotInfo {
  uint64_t seq = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

// Writes `index` as a snapshot of store `store_id` to `path`, atomically:
// to `path`.tmp, fsync, rename over `path`, fsync of the directory. A crash
// at any point leaves the previous snapshot (or none) at `path`. Entries
// expired at `now` are left out. Holds the index's lock for one shard at a
// time (logouts wait at most that long; Verify never). Not to be called
// concurrently for one path. UNAVAILABLE on I/O errors, with the path.
absl::StatusOr<IndexSnapshotInfo> WriteIndexSnapshot(
    const token::RevocationIndex& index, absl::string_view store_id,
    absl::Time now, const std::string& path);

// Reads the snapshot at `path` into `index` (whose contents it replaces),
// dropping entries expired at `now`, on up to `threads` threads. Checks,
// before anything is loaded: the checksums and the layout (DATA_LOSS for a
// truncated or altered file), the store id (FAILED_PRECONDITION for
// another store's), and that its seq is at most `max_seq`
// (FAILED_PRECONDITION: a snapshot ahead of the store, as after restoring
// an older data dir). NOT_FOUND when there is no file. On error `index`
// is unchanged. Never trusts a length or count it has not checked.
absl::StatusOr<IndexSnapshotInfo> ReadIndexSnapshot(
    const std::string& path, absl::string_view store_id, uint64_t max_seq,
    absl::Time now, int threads, token::RevocationIndex* index);

// How LoadIndex filled the index.
struct IndexLoad {
  bool from_snapshot = false;
  // Why a snapshot found at the path was not used (or why the replay after
  // it failed); empty when it was used or there was none.
  std::string snapshot_refused;
  uint64_t snapshot_seq = 0;
  uint64_t replayed_events = 0;
  size_t entries = 0;
  absl::Duration took;
};

// Fills `index` (empty, not yet shared) with every live revocation in
// `store`: from the snapshot at `snapshot_path` plus the store's events
// after its seq when that works, else by scanning the store's revocation
// table. `snapshot_path` empty: always the scan. The store must not be
// written meanwhile (start-up). Afterwards index->last_seq() is the
// store's LastSeq(): every revocation up to it is applied. Errors are the
// store's (the scan failed); a bad snapshot is never an error.
absl::StatusOr<IndexLoad> LoadIndex(store::Store* store, absl::Time now,
                                    const std::string& snapshot_path,
                                    token::RevocationIndex* index);

// Writes snapshots of an index in the background: when `every_events`
// revocations were applied since the last one, or `interval` passed and
// any was, checked once a second; and on Stop. Thread-safe.
class IndexSnapshotter {
 public:
  struct Options {
    std::string path;
    // 0 disables the count trigger.
    uint64_t every_events = 100000;
    absl::Duration interval = absl::Minutes(1);
  };
  // `index` and `clock` are not owned and must outlive the snapshotter.
  // `written_seq` is the seq of the snapshot at the path already (0 when
  // none): with nothing applied since, no new one is written.
  IndexSnapshotter(const token::RevocationIndex* index, std::string store_id,
                   const token::Clock* clock, Options options,
                   uint64_t written_seq);
  ~IndexSnapshotter();

  // Writes one now, unless it would hold nothing new. Errors are logged by
  // the background thread; here they are returned.
  absl::Status WriteNow();
  // Stops the thread, then writes a last snapshot (graceful shutdown: the
  // next start replays nothing). Idempotent.
  void Stop();

  // The seq of the last snapshot written (or given at construction).
  uint64_t written_seq() const;

 private:
  void Loop();

  const token::RevocationIndex* const index_;
  const std::string store_id_;
  const token::Clock* const clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  uint64_t written_seq_ ABSL_GUARDED_BY(mu_);
  absl::Time written_at_ ABSL_GUARDED_BY(mu_);
  absl::Notification stopping_;
  std::thread thread_;
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_INDEX_SNAPSHOT_H_
