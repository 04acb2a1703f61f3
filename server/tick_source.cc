#include "server/tick_source.h"

#include <algorithm>

namespace sigil::server {

TickSource::TickSource(const token::Clock* clock, store::Store* store)
    : clock_(clock),
      store_(store),
      last_(store->TickFloor()),
      reserved_until_(store->TickFloor()) {}

absl::StatusOr<int64_t> TickSource::Next() {
  absl::MutexLock lock(&mu_);
  // Above every logout recorded, including one another replica of a
  // shared store committed since this process last stamped an instant.
  const int64_t next = std::max({absl::ToUnixMicros(clock_->Now()), last_ + 1,
                                 store_->LogoutFloor() + 1});
  if (next >= reserved_until_) {
    const int64_t horizon = next + kHorizonMicros;
    absl::Status reserved = store_->ReserveTicks(horizon);
    if (!reserved.ok()) return reserved;
    reserved_until_ = horizon;
  }
  last_ = next;
  return next;
}

}  // namespace sigil::server
