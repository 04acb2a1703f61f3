#ifndef SIGIL_SERVER_STORE_GROUP_COMMIT_H_
#define SIGIL_SERVER_STORE_GROUP_COMMIT_H_

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace sigil::server::store {

// Turns concurrent writes into batches, so that N callers waiting on disk
// pay for one write (and one fsync) instead of N in a row. A caller that
// finds no batch running commits everything queued by then, its own
// operation included, in one call of `commit`; callers arriving meanwhile
// queue up and are committed together by the next of them to lead. Nothing
// waits for company: a lone caller commits at once.
//
// `commit` sees operations in arrival order, runs on the leading caller's
// thread, and one call at a time; it must set every Slot's result.
// Thread-safe.
template <typename Op, typename Result>
class GroupCommit {
 public:
  struct Slot {
    Op op;
    Result result;
  };
  using CommitFn = std::function<void(absl::Span<Slot* const> batch)>;

  explicit GroupCommit(CommitFn commit) : commit_(std::move(commit)) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Blocks until `op` is committed and returns what `commit` set for it.
  Result Submit(Op op) {
    Waiter waiter{Slot{std::move(op), Result()}, false};
    std::vector<Waiter*> batch;
    {
      absl::MutexLock lock(&mu_);
      queue_.push_back(&waiter);
      const auto ready = [&] {
        mu_.AssertHeld();  // Await checks the condition under mu_.
        return waiter.done || !leading_;
      };
      mu_.Await(absl::Condition(&ready));
      if (waiter.done) return std::move(waiter.slot.result);
      // Our own operation is still queued, so it is in this batch.
      leading_ = true;
      batch.swap(queue_);
    }
    std::vector<Slot*> slots;
    slots.reserve(batch.size());
    for (Waiter* queued : batch) slots.push_back(&queued->slot);
    commit_(slots);
    {
      absl::MutexLock lock(&mu_);
      for (Waiter* queued : batch) queued->done = true;
      leading_ = false;
    }
    return std::move(waiter.slot.result);
  }

  // Operations waiting for the next batch.
  size_t queued() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  struct Waiter {
    Slot slot;
    bool done;
  };

  const CommitFn commit_;
  mutable absl::Mutex mu_;
  std::vector<Waiter*> queue_ ABSL_GUARDED_BY(mu_);
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sigil::server::store

#endif  // SIGIL_SERVER_STORE_GROUP_COMMIT_H_
