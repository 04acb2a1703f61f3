#ifndef SIGIL_SERVER_STORE_EXPIRY_FILTER_H_
#define SIGIL_SERVER_STORE_EXPIRY_FILTER_H_

#include <string>

#include "rocksdb/compaction_filter.h"
#include "token/clock.h"

namespace sigil::server::store {

// Drops framed values (see Frame in layout.h) whose expiry is at or before
// the clock's now: this is what keeps revocation state bounded by the live
// tokens rather than by every token ever issued. Values too short to carry
// an expiry are kept. Only installed on column families whose values are all
// framed. Thread-safe: RocksDB shares one instance between compactions, and
// it only reads the clock.
class ExpiryFilter : public rocksdb::CompactionFilter {
 public:
  explicit ExpiryFilter(const token::Clock* clock) : clock_(clock) {}

  bool Filter(int level, const rocksdb::Slice& key,
              const rocksdb::Slice& existing_value, std::string* new_value,
              bool* value_changed) const override;
  const char* Name() const override { return "sigil.ExpiryFilter"; }

 private:
  const token::Clock* const clock_;
};

}  // namespace sigil::server::store

#endif  // SIGIL_SERVER_STORE_EXPIRY_FILTER_H_
