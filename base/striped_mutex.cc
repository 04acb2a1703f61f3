#include "base/striped_mutex.h"

#include <atomic>

namespace sigil::base {
namespace {

// Threads get stripes in turn as they first read, so a handful of threads
// (gRPC's, or an application's workers) never share one.
size_t StripeOfThisThread() {
  static std::atomic<size_t> next{0};
  thread_local const size_t stripe =
      next.fetch_add(1, std::memory_order_relaxed) % StripedMutex::kStripes;
  return stripe;
}

}  // namespace

void StripedMutex::Lock() {
  for (Stripe& stripe : stripes_) stripe.mu.Lock();
}

void StripedMutex::Unlock() {
  for (auto it = stripes_.rbegin(); it != stripes_.rend(); ++it) {
    it->mu.Unlock();
  }
}

size_t StripedMutex::ReaderLock() const {
  const size_t stripe = StripeOfThisThread();
  stripes_[stripe].mu.ReaderLock();
  return stripe;
}

void StripedMutex::ReaderUnlock(size_t stripe) const {
  stripes_[stripe].mu.ReaderUnlock();
}

}  // namespace sigil::base
