#include "server/seq_waiter.h"

#include <algorithm>
#include <utility>

namespace sigil::server {

SeqWaiter::SeqWaiter(RevocationFeed* feed) : feed_(feed) {
  thread_ = std::thread([this] { Loop(); });
}

SeqWaiter::~SeqWaiter() {
  Stop();
  if (thread_.joinable()) thread_.join();
  if (subscribed_) feed_->Unsubscribe(this);
}

void SeqWaiter::Wait(uint64_t seq, absl::Time deadline, Done done) {
  bool reached = false;
  {
    absl::MutexLock lock(&mu_);
    // Checked under mu_: a publish after this check wakes the loop, which
    // then sees the new wait.
    reached = feed_->last_seq() >= seq;
    if (!reached && !stopping_ && absl::Now() < deadline) {
      pending_.push_back(Pending{seq, deadline, std::move(done)});
      // The loop may be asleep until a later deadline.
      signaled_ = true;
      return;
    }
  }
  done(reached);
}

void SeqWaiter::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

void SeqWaiter::Wake(bool) {
  absl::MutexLock lock(&mu_);
  signaled_ = true;
}

void SeqWaiter::Loop() {
  std::vector<std::pair<Done, bool>> ready;
  mu_.Lock();
  while (true) {
    absl::Time next = absl::InfiniteFuture();
    for (const Pending& p : pending_) next = std::min(next, p.deadline);
    mu_.AwaitWithDeadline(absl::Condition(this, &SeqWaiter::Signaled), next);
    signaled_ = false;
    // Subscribed only while a wait is pending, so the feed's subscribers
    // (a metric of open streams) count streams. Not under mu_: the feed
    // wakes subscribers under its own lock.
    const bool want = !pending_.empty() && !stopping_;
    if (want != subscribed_) {
      mu_.Unlock();
      if (want) {
        feed_->Subscribe(this);
      } else {
        feed_->Unsubscribe(this);
      }
      mu_.Lock();
      subscribed_ = want;
    }
    const uint64_t applied = feed_->last_seq();
    const absl::Time now = absl::Now();
    auto kept = pending_.begin();
    for (Pending& p : pending_) {
      const bool reached = applied >= p.seq;
      if (reached || stopping_ || now >= p.deadline) {
        ready.emplace_back(std::move(p.done), reached && !stopping_);
      } else {
        *kept++ = std::move(p);
      }
    }
    pending_.erase(kept, pending_.end());
    const bool stop = stopping_;
    if (!ready.empty()) {
      // Outside the lock: a callback answers a call, and Wake must never
      // wait behind that.
      mu_.Unlock();
      for (auto& [done, reached] : ready) done(reached);
      ready.clear();
      mu_.Lock();
    }
    if (stop && pending_.empty()) break;
  }
  mu_.Unlock();
}

}  // namespace sigil::server
