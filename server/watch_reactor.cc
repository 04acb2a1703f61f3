#include "server/watch_reactor.h"

#include <algorithm>
#include <utility>

#include "wire/revocation_event.h"
#include "wire/timestamp.h"

namespace sigil::server {

WatchReactor::WatchReactor(RevocationFeed* feed, const token::Clock* clock,
                           std::function<std::string()> key_set_version,
                           telemetry::Histogram* lag,
                           const std::atomic<bool>* ending)
    : feed_(feed),
      clock_(clock),
      key_set_version_(std::move(key_set_version)),
      lag_(lag),
      ending_(ending) {
  absl::MutexLock lock(&mu_);
  StartRead(&request_);
}

void WatchReactor::Open() {
  opened_ = true;
  sent_seq_ = request_.after_seq();
  // A subscriber that followed another store, or is ahead of this one,
  // holds state this store never had: start it over rather than leave it
  // trusting that state.
  const bool other_store =
      !request_.store_id().empty() && request_.store_id() != feed_->store_id();
  if (other_store || request_.after_seq() > feed_->last_seq()) {
    reset_ = true;
    sent_seq_ = 0;
  }
  // The first message goes out at once, events or not, so a subscriber
  // learns the current seq without waiting for a heartbeat.
  heartbeat_due_ = true;
}

void WatchReactor::OnReadDone(bool ok) {
  bool opening = false;
  {
    absl::MutexLock lock(&mu_);
    if (!ok) {
      // The subscriber closed its side (it will send no probes: the stream
      // goes on) or the call ended. With no first request there is
      // nothing to stream.
      if (!opened_) {
        FinishOnce(cancelled_ ? grpc::Status::CANCELLED
                              : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                             "no WatchRevocationsRequest"));
      }
      return;
    }
    if (!opened_) {
      Open();
      opening = true;
    }
    if (request_.probe() != 0) {
      // Read the horizon after the probe arrived: every revocation that
      // existed when the subscriber sent it has a seq up to this.
      probe_ = request_.probe();
      probe_horizon_ = feed_->last_seq();
      heartbeat_due_ = true;
    }
    if (!finished_) StartRead(&request_);
  }
  if (opening) {
    // Subscribed before the first read of events, so no event published in
    // between is missed until the next one. Not under mu_: the feed wakes
    // subscribers under its own lock.
    feed_->Subscribe(this);
  }
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
  if (ending_ != nullptr && ending_->load()) {
    // The subscriber resumes elsewhere (or here after a restart) from the
    // seq it holds; nothing it was sent is lost.
    FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "the authority is shutting down"));
    return;
  }
  if (!opened_) return;
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
  if (probe_ != 0 && covered >= probe_horizon_) {
    response_.set_probe_echo(probe_);
    probe_ = 0;
  }
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
