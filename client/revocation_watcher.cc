#include "client/revocation_watcher.h"

#include <algorithm>
#include <utility>

#include "wire/revocation_event.h"

namespace sigil::client {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);

}  // namespace

RevocationWatcher::RevocationWatcher(sigil::v1::Identity::StubInterface* stub,
                                     const token::Clock* clock,
                                     KeySetVersionCallback on_key_set_version)
    : stub_(stub),
      clock_(clock),
      on_key_set_version_(std::move(on_key_set_version)),
      thread_([this] { Run(); }) {}

RevocationWatcher::~RevocationWatcher() {
  stopping_.Notify();
  {
    absl::MutexLock lock(&mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  thread_.join();
}

bool RevocationWatcher::IsCurrent(absl::Time now,
                                  absl::Duration max_staleness) const {
  const int64_t at = current_at_us_.load();
  return at != 0 && now - absl::FromUnixMicros(at) <= max_staleness;
}

absl::Time RevocationWatcher::last_proof() const {
  const int64_t at = last_proof_us_.load();
  return at == 0 ? absl::InfinitePast() : absl::FromUnixMicros(at);
}

void RevocationWatcher::Run() {
  absl::Duration backoff = kMinBackoff;
  while (!stopping_.HasBeenNotified()) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_.HasBeenNotified()) break;
      context_ = &context;
    }
    if (Follow(context)) backoff = kMinBackoff;
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
    }
    stopping_.WaitForNotificationWithTimeout(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

bool RevocationWatcher::Follow(grpc::ClientContext& context) {
  sigil::v1::WatchRevocationsRequest request;
  request.set_after_seq(applied_seq_.load());
  request.set_store_id(store_id_);
  auto reader = stub_->WatchRevocations(&context, request);
  sigil::v1::WatchRevocationsResponse response;
  // Set while a reset is caught up: the authority's state is built here,
  // and the index keeps the old (stricter or equal) state until then.
  std::unique_ptr<token::RevocationIndex> rebuilding;
  std::string store_id;
  bool heard = false;
  while (reader->Read(&response)) {
    heard = true;
    if (!response.store_id().empty()) store_id = response.store_id();
    if (response.reset()) {
      current_at_us_.store(0);
      rebuilding = std::make_unique<token::RevocationIndex>();
    }
    token::RevocationIndex& target = rebuilding ? *rebuilding : index_;
    for (const sigil::v1::RevocationEvent& event : response.events()) {
      // An event of an unknown scope cannot be applied safely; the watcher
      // stops proving currency until a stream without it.
      auto revocation = wire::FromEvent(event);
      if (!revocation.has_value()) {
        current_at_us_.store(0);
        context.TryCancel();
        reader->Finish();
        return false;
      }
      target.Apply(*revocation);
      events_applied_.fetch_add(1, std::memory_order_relaxed);
    }
    if (!response.more()) {
      if (rebuilding) {
        index_.Swap(*rebuilding);
        rebuilding.reset();
      }
      // Only now does the seq count in this stream's store: a stream broken
      // during a reset resumes from the old seq and is reset again.
      store_id_ = store_id;
      applied_seq_.store(response.current_seq());
      const int64_t now_us = absl::ToUnixMicros(clock_->Now());
      current_at_us_.store(now_us);
      last_proof_us_.store(now_us);
    }
    if (on_key_set_version_ && !response.key_set_version().empty()) {
      on_key_set_version_(response.key_set_version());
    }
  }
  reader->Finish();
  return heard;
}

}  // namespace sigil::client
