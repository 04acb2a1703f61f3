#include "token/claims_cache.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"

namespace sigil::token {

ClaimsCache::ClaimsCache(size_t capacity)
    : per_shard_(std::max<size_t>(1, capacity / kShards)),
      shards_(std::make_unique<std::array<Shard, kShards>>()) {}

size_t ClaimsCache::KeyHash::operator()(absl::string_view token) const {
  return absl::Hash<absl::string_view>()(token);
}

ClaimsCache::HashedToken ClaimsCache::Hashed(absl::string_view token) {
  return HashedToken{token, KeyHash()(token)};
}

ClaimsCache::Shard& ClaimsCache::ShardOf(const HashedToken& key) const {
  // The top bits pick the shard; the table inside uses the low ones.
  return (*shards_)[(key.hash >> 56) % kShards];
}

ClaimsCache::Hit ClaimsCache::Find(absl::string_view token, absl::Time now,
                                   uint64_t generation) const {
  const HashedToken key = Hashed(token);
  Shard& shard = ShardOf(key);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end() || it->second.claims->expires_at <= now) {
    ++shard.misses;
    return Hit{};
  }
  ++shard.hits;
  return Hit{it->second.claims, it->second.checked_generation == generation};
}

void ClaimsCache::Insert(absl::string_view token, Claims claims,
                         uint64_t generation, absl::Time now) {
  const HashedToken key = Hashed(token);
  Shard& shard = ShardOf(key);
  absl::MutexLock lock(&shard.mu);
  if (shard.entries.size() >= per_shard_) {
    absl::erase_if(shard.entries, [now](const auto& entry) {
      return entry.second.claims->expires_at <= now;
    });
  }
  if (shard.entries.size() >= per_shard_ && !shard.entries.contains(key)) {
    shard.entries.erase(shard.entries.begin());
  }
  shard.entries.insert_or_assign(std::string(token),
                                 Entry{std::move(claims), generation});
}

void ClaimsCache::MarkChecked(absl::string_view token, uint64_t generation) {
  const HashedToken key = Hashed(token);
  Shard& shard = ShardOf(key);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(key);
  // Generations only grow; a slower caller must not mark an entry as
  // checked at an older one.
  if (it != shard.entries.end()) {
    it->second.checked_generation =
        std::max(it->second.checked_generation, generation);
  }
}

void ClaimsCache::Erase(absl::string_view token) {
  const HashedToken key = Hashed(token);
  Shard& shard = ShardOf(key);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(key);
  if (it != shard.entries.end()) shard.entries.erase(it);
}

ClaimsCache::Stats ClaimsCache::stats() const {
  Stats stats;
  for (const Shard& shard : *shards_) {
    absl::MutexLock lock(&shard.mu);
    stats.size += shard.entries.size();
    stats.hits += shard.hits;
    stats.misses += shard.misses;
  }
  return stats;
}

size_t ClaimsCache::size() const {
  size_t total = 0;
  for (const Shard& shard : *shards_) {
    absl::MutexLock lock(&shard.mu);
    total += shard.entries.size();
  }
  return total;
}

}  // namespace sigil::token
