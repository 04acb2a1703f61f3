#ifndef SIGIL_SERVER_STORE_ROCKS_STORE_H_
#define SIGIL_SERVER_STORE_ROCKS_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/store.h"
#include "token/clock.h"

namespace sigil::server::store {

// The default Store: RocksDB embedded in a data directory, one column family
// each for sessions, revocations, the revocation event log, keys and
// metadata (which holds the on-disk format version).
class RocksStore : public Store {
 public:
  // Opens or creates the store in `data_dir` (created with mode 0700).
  // `clock` drives the compaction filter that drops revocations, events and
  // sessions past their expiry; it must outlive the store. Errors:
  // FAILED_PRECONDITION "data dir ... is in use by another sigild (lock
  // held)" while another process, or another open store of this process,
  // holds it; FAILED_PRECONDITION for a newer format version; UNAVAILABLE
  // for other storage errors (including a missing parent directory), each
  // with the path. RocksDB lives in data_dir/db, next to data_dir/keys.
  static absl::StatusOr<std::unique_ptr<RocksStore>> Open(
      const std::string& data_dir, const token::Clock* clock);

  struct Options {
    // False only for bulk loading by bench tools (bench/scale): writes that
    // Store promises to sync before returning reach only the OS, and the
    // WAL is synced once when the store is destroyed. A crash loses them.
    // sigild always syncs; never expose this as a flag.
    bool sync = true;
  };
  static absl::StatusOr<std::unique_ptr<RocksStore>> Open(
      const std::string& data_dir, const token::Clock* clock,
      const Options& options);

  // Forces a full compaction of every column family, running the
  // expiry filter. For tests and operators.
  virtual absl::Status CompactAll() = 0;

  // RocksDB's own estimates, summed over the column families, for
  // operators' metrics; zero where RocksDB has none. Thread-safe, cheap.
  struct Stats {
    uint64_t live_data_bytes = 0;
    uint64_t sst_file_bytes = 0;
    uint64_t memtable_bytes = 0;
    uint64_t pending_compaction_bytes = 0;
    uint64_t estimated_keys = 0;
  };
  virtual Stats GetStats() const = 0;
};

}  // namespace sigil::server::store

#endif  // SIGIL_SERVER_STORE_ROCKS_STORE_H_
