#include "client/revocation_watcher.h"

#include <algorithm>

#include "wire/revocation_event.h"

namespace sigil::client {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);

}  // namespace

RevocationWatcher::RevocationWatcher(sigil::v1::Identity::StubInterface* stub,
                                     const token::Clock* clock)
    : stub_(stub), clock_(clock), thread_([this] { Run(); }) {}

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

void RevocationWatcher::Run() {
  absl::Duration backoff = kMinBackoff;
  while (!stopping_.HasBeenNotified()) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_.HasBeenNotified()) break;
      context_ = &context;
    }
    sigil::v1::WatchRevocationsRequest request;
    request.set_after_seq(applied_seq_.load());
    auto reader = stub_->WatchRevocations(&context, request);
    sigil::v1::WatchRevocationsResponse response;
    bool unusable = false;
    while (!unusable && reader->Read(&response)) {
      if (response.reset()) index_.Clear();
      for (const sigil::v1::RevocationEvent& event : response.events()) {
        // An event of an unknown scope cannot be applied safely; the
        // watcher stops proving currency until a stream without it.
        auto revocation = wire::FromEvent(event);
        if (!revocation.has_value()) {
          unusable = true;
          break;
        }
        index_.Apply(*revocation);
      }
      if (unusable) {
        current_at_us_.store(0);
        context.TryCancel();
        break;
      }
      applied_seq_.store(response.current_seq());
      current_at_us_.store(absl::ToUnixMicros(clock_->Now()));
      backoff = kMinBackoff;
    }
    reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
    }
    stopping_.WaitForNotificationWithTimeout(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace sigil::client
