#include "token/claims_cache.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"

namespace sigil::token {

ClaimsCache::ClaimsCache(size_t capacity, size_t max_bytes)
    : per_shard_(std::max<size_t>(1, capacity / kShards)),
      bytes_per_shard_(max_bytes / kShards),
      shards_(std::make_unique<std::array<Shard, kShards>>()) {}

size_t ClaimsCache::KeyHash::operator()(absl::string_view token) const {
  return absl::Hash<absl::string_view>()(token);
}

ClaimsCache::HashedToken ClaimsCache::Hashed(absl::string_view token) {
  return HashedToken{token, KeyHash()(token)};
}

size_t ClaimsCache::Cost(absl::string_view token, const JwtClaims& claims) {
  // Slot (key string and Entry), the shared_ptr's control block with the
  // claims, and each string's header; small strings are counted in full
  // even when they sit inside their header, which errs on the large side.
  constexpr size_t kFixed =
      sizeof(std::string) + sizeof(Entry) + 64 + sizeof(JwtClaims);
  size_t bytes = kFixed + token.size() + claims.issuer.size() +
                 claims.subject.size() + claims.token_id.size() +
                 claims.session_id.size();
  for (const std::string& system : claims.audience) {
    bytes += sizeof(std::string) + system.size();
  }
  for (const std::string& scope : claims.scopes) {
    bytes += sizeof(std::string) + scope.size();
  }
  return bytes;
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
  const size_t bytes = Cost(token, *claims);
  if (bytes > bytes_per_shard_) return;
  const HashedToken key = Hashed(token);
  Shard& shard = ShardOf(key);
  absl::MutexLock lock(&shard.mu);
  auto existing = shard.entries.find(key);
  if (existing != shard.entries.end()) {
    shard.bytes -= existing->second.bytes;
    shard.entries.erase(existing);
  }
  // Plain loops, not lambdas: the lock analysis does not see a lambda run
  // under `mu`.
  if (shard.entries.size() >= per_shard_ ||
      shard.bytes + bytes > bytes_per_shard_) {
    for (auto it = shard.entries.begin(); it != shard.entries.end();) {
      if (it->second.claims->expires_at <= now) {
        shard.bytes -= it->second.bytes;
        shard.entries.erase(it++);
      } else {
        ++it;
      }
    }
  }
  while (!shard.entries.empty() && (shard.entries.size() >= per_shard_ ||
                                    shard.bytes + bytes > bytes_per_shard_)) {
    auto victim = shard.entries.begin();
    shard.bytes -= victim->second.bytes;
    shard.entries.erase(victim);
  }
  shard.bytes += bytes;
  shard.entries.emplace(std::string(token),
                        Entry{std::move(claims), generation, bytes});
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
  if (it != shard.entries.end()) {
    shard.bytes -= it->second.bytes;
    shard.entries.erase(it);
  }
}

ClaimsCache::Stats ClaimsCache::stats() const {
  Stats stats;
  for (const Shard& shard : *shards_) {
    absl::MutexLock lock(&shard.mu);
    stats.size += shard.entries.size();
    stats.bytes += shard.bytes;
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
