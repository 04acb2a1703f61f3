#include "server/revocation_feed.h"

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
    if (!recent_.empty() && recent_.front().seq <= after_seq + 1) {
      std::vector<token::Revocation> events;
      for (const token::Revocation& r : recent_) {
        if (events.size() == limit) break;
        if (r.seq > after_seq) events.push_back(r);
      }
      return events;
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
