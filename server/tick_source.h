#ifndef SIGIL_SERVER_TICK_SOURCE_H_
#define SIGIL_SERVER_TICK_SOURCE_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/store.h"
#include "token/clock.h"

namespace sigil::server {

// Hands out strictly increasing instants in microseconds for token issue
// times and revocation not_before values. Ordering them on one counter is
// what makes "a revocation covers exactly the tokens issued before it" hold
// within a millisecond and across restarts: the counter never goes below
// Store::TickFloor, and a horizon is reserved durably before the counter
// passes it, so a clock stepping back cannot reuse an instant.
// Thread-safe.
class TickSource {
 public:
  // Neither pointer is owned; both must outlive the TickSource.
  TickSource(const token::Clock* clock, store::Store* store);

  // The next instant: max(now, previous + 1). UNAVAILABLE when a horizon
  // had to be reserved and the store failed.
  absl::StatusOr<int64_t> Next();

 private:
  static constexpr int64_t kHorizonMicros = 60 * 1000 * 1000;

  const token::Clock* clock_;
  store::Store* store_;
  absl::Mutex mu_;
  int64_t last_ ABSL_GUARDED_BY(mu_);
  int64_t reserved_until_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_TICK_SOURCE_H_
