#ifndef SIGIL_BASE_STRIPED_MUTEX_H_
#define SIGIL_BASE_STRIPED_MUTEX_H_

#include <array>
#include <cstddef>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sigil::base {

// A reader-writer lock for data read on every request and written rarely.
// A reader takes one of kStripes mutexes, the one of its thread, so readers
// on different cores write to different cache lines instead of all taking
// turns at one; a writer takes every stripe, in order. Thread-safe.
class ABSL_LOCKABLE StripedMutex {
 public:
  static constexpr size_t kStripes = 16;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  void Unlock() ABSL_UNLOCK_FUNCTION();
  // Returns the stripe taken, for ReaderUnlock.
  size_t ReaderLock() const ABSL_SHARED_LOCK_FUNCTION();
  void ReaderUnlock(size_t stripe) const ABSL_UNLOCK_FUNCTION();

 private:
  struct alignas(64) Stripe {
    mutable absl::Mutex mu;
  };
  std::array<Stripe, kStripes> stripes_;
};

class ABSL_SCOPED_LOCKABLE StripedReaderLock {
 public:
  explicit StripedReaderLock(const StripedMutex* mu)
      ABSL_SHARED_LOCK_FUNCTION(mu)
      : mu_(mu), stripe_(mu->ReaderLock()) {}
  ~StripedReaderLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(stripe_); }
  StripedReaderLock(const StripedReaderLock&) = delete;
  StripedReaderLock& operator=(const StripedReaderLock&) = delete;

 private:
  const StripedMutex* const mu_;
  const size_t stripe_;
};

class ABSL_SCOPED_LOCKABLE StripedWriterLock {
 public:
  explicit StripedWriterLock(StripedMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->Lock();
  }
  ~StripedWriterLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  StripedWriterLock(const StripedWriterLock&) = delete;
  StripedWriterLock& operator=(const StripedWriterLock&) = delete;

 private:
  StripedMutex* const mu_;
};

}  // namespace sigil::base

#endif  // SIGIL_BASE_STRIPED_MUTEX_H_
