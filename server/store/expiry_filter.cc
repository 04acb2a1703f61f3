#include "server/store/expiry_filter.h"

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/store/layout.h"

namespace sigil::server::store {

bool ExpiryFilter::Filter(int /*level*/, const rocksdb::Slice& /*key*/,
                          const rocksdb::Slice& existing_value,
                          std::string* /*new_value*/,
                          bool* /*value_changed*/) const {
  int64_t expires_us = 0;
  absl::string_view record;
  if (!Unframe(absl::string_view(existing_value.data(), existing_value.size()),
               &expires_us, &record)) {
    return false;
  }
  return expires_us <= absl::ToUnixMicros(clock_->Now());
}

}  // namespace sigil::server::store
