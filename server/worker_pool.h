#ifndef SIGIL_SERVER_WORKER_POOL_H_
#define SIGIL_SERVER_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sigil::server {

// A fixed set of threads for work that blocks, such as calls that wait for
// a synced write: gRPC's callback threads hand such calls over and stay
// free for the calls that never wait. Tasks queue while every thread is
// busy, rather than being refused. Destruction runs every task scheduled
// before it, then joins the threads. Thread-safe.
class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Schedule(std::function<void()> task);

 private:
  void Work();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace sigil::server

#endif  // SIGIL_SERVER_WORKER_POOL_H_
