#include "bench/load/watch.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "sigil/v1/identity.grpc.pb.h"

namespace sigil::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

// One WatchRevocations stream: notes when each event seq arrived.
class Subscriber
    : public grpc::ClientBidiReactor<v1::WatchRevocationsRequest,
                                     v1::WatchRevocationsResponse> {
 public:
  // Streams the events after `from` (the store's current seq and id).
  Subscriber(v1::Identity::Stub* stub,
             const v1::WatchRevocationsResponse& from) {
    request_.set_after_seq(from.current_seq());
    request_.set_store_id(from.store_id());
    stub->async()->WatchRevocations(&context_, this);
    // One request and no probes: the bench measures delivery, not currency.
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }

  void OnWriteDone(bool) override {}

  void OnReadDone(bool ok) override {
    if (!ok) return;
    const int64_t now = NowNs();
    {
      absl::MutexLock lock(&mu_);
      for (const auto& event : response_.events()) {
        arrived_ns_.emplace(event.seq(), now);
      }
      if (!response_.more()) caught_up_ = true;
      current_seq_ = std::max(current_seq_, response_.current_seq());
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  // Waits until the stream has caught up (or ended) or `deadline`.
  bool AwaitCaughtUp(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(
        absl::Condition(
            +[](Subscriber* s) {
              s->mu_.AssertHeld();  // Await checks it under mu_.
              return s->caught_up_ || s->done_;
            },
            this),
        deadline);
    return caught_up_;
  }

  // Waits until the stream has reported `seq` as current, or `deadline`.
  void AwaitSeq(uint64_t seq, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    awaited_seq_ = seq;
    mu_.AwaitWithDeadline(absl::Condition(
                              +[](Subscriber* s) {
                                s->mu_.AssertHeld();  // As above.
                                return s->current_seq_ >= s->awaited_seq_ ||
                                       s->done_;
                              },
                              this),
                          deadline);
  }

  // When `seq` arrived, or -1.
  int64_t ArrivedNs(uint64_t seq) {
    absl::MutexLock lock(&mu_);
    auto it = arrived_ns_.find(seq);
    return it == arrived_ns_.end() ? -1 : it->second;
  }

  void CancelAndWait() {
    context_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

 private:
  grpc::ClientContext context_;
  v1::WatchRevocationsRequest request_;
  v1::WatchRevocationsResponse response_;
  absl::Mutex mu_;
  std::map<uint64_t, int64_t> arrived_ns_ ABSL_GUARDED_BY(mu_);
  uint64_t current_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t awaited_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool caught_up_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// The store's current seq and id, read by one stream that catches up, so
// that the subscribers measure live delivery rather than each replaying
// the log.
absl::StatusOr<v1::WatchRevocationsResponse> Now(v1::Identity::Stub* stub,
                                                 absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  v1::WatchRevocationsRequest request;
  auto reader = stub->WatchRevocations(&context);
  reader->Write(request);
  reader->WritesDone();
  v1::WatchRevocationsResponse message;
  v1::WatchRevocationsResponse now;
  bool caught_up = false;
  while (!caught_up && reader->Read(&message)) {
    if (!message.store_id().empty()) now.set_store_id(message.store_id());
    now.set_current_seq(message.current_seq());
    caught_up = !message.more();
  }
  context.TryCancel();
  reader->Finish().IgnoreError();
  if (!caught_up) {
    return absl::UnavailableError("WatchRevocations never caught up");
  }
  return now;
}

}  // namespace

absl::Status RunWatch(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels,
    const WatchOptions& opts, Result& result) {
  std::vector<std::unique_ptr<v1::Identity::Stub>> stubs;
  for (const auto& channel : channels) {
    stubs.push_back(v1::Identity::NewStub(channel));
  }
  const absl::Time deadline = absl::Now() + opts.max_time;
  auto from = Now(stubs[0].get(), deadline);
  if (!from.ok()) return from.status();
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  for (int i = 0; i < opts.subscribers; ++i) {
    subscribers.push_back(
        std::make_unique<Subscriber>(stubs[i % stubs.size()].get(), *from));
  }
  int caught_up = 0;
  for (auto& subscriber : subscribers) {
    caught_up += subscriber->AwaitCaughtUp(deadline) ? 1 : 0;
  }
  absl::Status status = absl::OkStatus();
  if (caught_up != opts.subscribers) {
    status = absl::UnavailableError(
        absl::StrCat(opts.subscribers - caught_up, " of ", opts.subscribers,
                     " WatchRevocations streams never caught up"));
  }

  // seq -> when its LogoutFromSystem request was sent.
  std::map<uint64_t, int64_t> sent_ns;
  Recorder calls;
  const std::string subject =
      absl::StrCat("bench-watch-", absl::ToUnixMicros(absl::Now()));
  // Logged in first: a logout of a subject that holds no live token at the
  // system records nothing and streams no event.
  if (status.ok()) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::IssueRequest request;
    request.set_subject(subject);
    request.add_systems(opts.system);
    v1::IssueResponse response;
    const grpc::Status issued = stubs[0]->Issue(&context, request, &response);
    if (!issued.ok()) {
      status = absl::UnavailableError(absl::StrCat(
          "Issue for the watched subject failed: ", issued.error_message()));
    }
  }
  const absl::Time start = absl::Now();
  for (int64_t i = 0; status.ok() && i < opts.revocations; ++i) {
    if (absl::Now() >= deadline) {
      result.hit_time_cap = true;
      break;
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::LogoutFromSystemRequest request;
    request.set_system(opts.system);
    request.set_subject(subject);
    v1::LogoutResponse response;
    const int64_t before = NowNs();
    const grpc::Status call =
        stubs[0]->LogoutFromSystem(&context, request, &response);
    Outcome outcome;
    outcome.method = "LogoutFromSystem";
    outcome.code = call.error_code();
    outcome.message = call.error_message();
    calls.Add(NowNs() - before, outcome);
    if (call.ok()) sent_ns[response.revocation_seq()] = before;
  }
  const uint64_t last_seq = sent_ns.empty() ? 0 : sent_ns.rbegin()->first;
  Recorder deliveries;
  for (auto& subscriber : subscribers) {
    subscriber->AwaitSeq(last_seq, deadline + absl::Seconds(5));
    for (const auto& [seq, before] : sent_ns) {
      const int64_t arrived = subscriber->ArrivedNs(seq);
      if (arrived >= 0) deliveries.AddLatency(arrived - before);
    }
  }
  result.elapsed = absl::Now() - start;
  for (auto& subscriber : subscribers) subscriber->CancelAndWait();

  // The report's latencies are the deliveries; the counts, the logouts.
  Result logouts;
  logouts.Merge(calls);
  result.Merge(deliveries);
  result.status_counts = logouts.status_counts;
  result.method_counts = logouts.method_counts;
  result.method_counts["WatchRevocations deliveries"] = result.completed();
  result.first_error = logouts.first_error;
  return status;
}

}  // namespace sigil::bench
