#include "server/revocation_feed.h"

#include <algorithm>

namespace sigil::server {

RevocationFeed::RevocationFeed(store::Store* store,
                               absl::Duration heartbeat_interval)
    : store_(store), last_seq_(store->LastSeq()) {
  ticker_ =
      std::thread([this, heartbeat_interval] { TickLoop(heartbeat_interval); });
}

RevocationFeed::~RevocationFeed() {
  stopping_.Notify();
  ticker_.join();
}

void RevocationFeed::Publish(const token::Revocation& revocation) {
  {
    absl::MutexLock lock(&events_mu_);
    recent_.push_back(revocation);
    if (recent_.size() > kRecentEvents) recent_.pop_front();
    last_seq_.store(revocation.seq);
  }
  WakeAll(false);
}

absl::StatusOr<std::vector<token::Revocation>> RevocationFeed::EventsAfter(
    uint64_t after_seq, size_t limit) {
  {
    absl::MutexLock lock(&events_mu_);
    // A caught-up subscriber (every heartbeat of an idle stream) touches
    // no entry at all.
    if (!recent_.empty() && after_seq >= recent_.back().seq) {
      return std::vector<token::Revocation>();
    }
    if (!recent_.empty() && recent_.front().seq <= after_seq + 1) {
      // recent_ is in strictly increasing seq order (seqs may skip): find
      // the first entry past after_seq by bisection, not by a scan.
      uint64_t examined = 0;
      auto first = std::upper_bound(
          recent_.begin(), recent_.end(), after_seq,
          [&examined](uint64_t seq, const token::Revocation& r) {
            ++examined;
            return seq < r.seq;
          });
      const size_t n =
          std::min(limit, static_cast<size_t>(recent_.end() - first));
      entries_examined_.fetch_add(examined + n, std::memory_order_relaxed);
      return std::vector<token::Revocation>(first, first + n);
    }
  }
  if (after_seq >= last_seq_.load()) return std::vector<token::Revocation>();
  return store_->ReadEvents(after_seq, limit);
}

void RevocationFeed::Subscribe(Subscriber* subscriber) {
  absl::MutexLock lock(&subscribers_mu_);
  subscribers_.insert(subscriber);
}

void RevocationFeed::Unsubscribe(Subscriber* subscriber) {
  absl::MutexLock lock(&subscribers_mu_);
  subscribers_.erase(subscriber);
}

size_t RevocationFeed::subscriber_count() const {
  absl::MutexLock lock(&subscribers_mu_);
  return subscribers_.size();
}

void RevocationFeed::WakeAll(bool heartbeat) {
  // Held while waking, so Unsubscribe cannot return while a subscriber is
  // being woken.
  absl::MutexLock lock(&subscribers_mu_);
  for (Subscriber* subscriber : subscribers_) subscriber->Wake(heartbeat);
}

void RevocationFeed::TickLoop(absl::Duration interval) {
  while (!stopping_.WaitForNotificationWithTimeout(interval)) WakeAll(true);
}

}  // namespace sigil::server
