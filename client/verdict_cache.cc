#include "client/verdict_cache.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace sigil::client {

VerdictCache::VerdictCache(size_t capacity)
    : per_shard_(std::max<size_t>(1, capacity / kShards)),
      shards_(std::make_unique<std::array<Shard, kShards>>()) {}

VerdictCache::Shard& VerdictCache::ShardOf(absl::string_view token) const {
  return (*shards_)[absl::Hash<absl::string_view>()(token) % kShards];
}

VerdictCache::Claims VerdictCache::Find(absl::string_view token,
                                        absl::Time now) const {
  Shard& shard = ShardOf(token);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(token);
  if (it == shard.entries.end() || it->second->expires_at <= now) {
    return nullptr;
  }
  return it->second;
}

void VerdictCache::Insert(absl::string_view token, Claims claims,
                          absl::Time now) {
  Shard& shard = ShardOf(token);
  absl::MutexLock lock(&shard.mu);
  if (shard.entries.size() >= per_shard_) {
    absl::erase_if(shard.entries, [now](const auto& entry) {
      return entry.second->expires_at <= now;
    });
  }
  if (shard.entries.size() >= per_shard_) {
    shard.entries.erase(shard.entries.begin());
  }
  shard.entries.insert_or_assign(std::string(token), std::move(claims));
}

size_t VerdictCache::size() const {
  size_t total = 0;
  for (const Shard& shard : *shards_) {
    absl::MutexLock lock(&shard.mu);
    total += shard.entries.size();
  }
  return total;
}

}  // namespace sigil::client
