#include "server/watch_reactor.h"

#include <algorithm>
#include <utility>

#include "wire/revocation_event.h"
#include "wire/timestamp.h"

namespace sigil::server {

WatchReactor::WatchReactor(RevocationFeed* feed, const token::Clock* clock,
                           std::function<std::string()> key_set_version,
                           const sigil::v1::WatchRevocationsRequest& request,
                           telemetry::Histogram* lag)
    : feed_(feed),
      clock_(clock),
      key_set_version_(std::move(key_set_version)),
      lag_(lag),
      sent_seq_(request.after_seq()) {
  {
    absl::MutexLock lock(&mu_);
    // A subscriber that followed another store, or is ahead of this one,
    // holds state this store never had: start it over rather than leave it
    // trusting that state.
    const bool other_store =
        !request.store_id().empty() && request.store_id() != feed_->store_id();
    if (other_store || request.after_seq() > feed_->last_seq()) {
      reset_ = true;
      sent_seq_ = 0;
    }
    // The first message goes out at once, events or not, so a subscriber
    // learns the current seq without waiting for a heartbeat.
    heartbeat_due_ = true;
  }
  // Subscribed before the first read, so no event published in between is
  // missed until the next one.
  feed_->Subscribe(this);
  {
    absl::MutexLock lock(&mu_);
    Pump();
  }
  Drain();
}

void WatchReactor::Wake(bool heartbeat) {
  if (heartbeat) heartbeat_wanted_.store(true);
  wake_pending_.store(true);
  Drain();
}

void WatchReactor::Drain() {
  while (wake_pending_.load() && mu_.TryLock()) {
    wake_pending_.store(false);
    if (heartbeat_wanted_.exchange(false)) heartbeat_due_ = true;
    Pump();
    mu_.Unlock();
  }
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok || cancelled_) {
      FinishOnce(grpc::Status::CANCELLED);
      return;
    }
    Pump();
  }
  Drain();
}

void WatchReactor::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (!writing_) FinishOnce(grpc::Status::CANCELLED);
  }
  Drain();
}

void WatchReactor::OnDone() {
  feed_->Unsubscribe(this);
  delete this;
}

void WatchReactor::Pump() {
  if (writing_ || finished_ || cancelled_) return;
  // Read the horizon before the events: every event up to it is then in
  // the batch (or a later one), even if seqs skip expired numbers.
  const uint64_t horizon = feed_->last_seq();
  auto events = feed_->EventsAfter(sent_seq_, kBatch);
  if (!events.ok()) {
    FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            std::string(events.status().message())));
    return;
  }
  if (events->empty() && !heartbeat_due_) return;

  response_.Clear();
  if (first_) {
    response_.set_reset(reset_);
    response_.set_store_id(feed_->store_id());
  }
  const absl::Time now = clock_->Now();
  for (const token::Revocation& r : *events) {
    *response_.add_events() = wire::ToEvent(r);
    // The first message replays what the subscriber missed, however old.
    if (lag_ != nullptr && !first_) {
      lag_->Observe(
          absl::ToDoubleSeconds(now - absl::FromUnixMicros(r.not_before_us)));
    }
  }
  uint64_t covered = events->empty() ? sent_seq_ : events->back().seq;
  if (events->size() < kBatch) covered = std::max(covered, horizon);
  sent_seq_ = covered;
  response_.set_current_seq(covered);
  response_.set_more(covered < horizon);
  response_.set_key_set_version(key_set_version_());
  *response_.mutable_sent_at() = wire::ToTimestamp(now);
  first_ = false;
  heartbeat_due_ = false;
  writing_ = true;
  StartWrite(&response_);
}

void WatchReactor::FinishOnce(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

}  // namespace sigil::server
