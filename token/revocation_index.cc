#include "token/revocation_index.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <utility>

namespace sigil::token {
namespace {

// A 64-bit finalizer (MurmurHash3's fmix64 constants) over 8-byte words.
uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

struct RevocationIndex::ShardBuilder::Tables : RevocationIndex::Shard {};

RevocationIndex::Key::Key(absl::string_view bytes) {
  if (bytes.size() <= kInline) {
    std::memcpy(bytes_, bytes.data(), bytes.size());
    size_ = static_cast<unsigned char>(bytes.size());
    return;
  }
  char* heap = new char[bytes.size()];
  std::memcpy(heap, bytes.data(), bytes.size());
  const size_t size = bytes.size();
  std::memcpy(bytes_, &heap, sizeof(heap));
  std::memcpy(bytes_ + sizeof(heap), &size, sizeof(size));
  size_ = kOnHeap;
}

RevocationIndex::Key::Key(Key&& other) noexcept : size_(other.size_) {
  std::memcpy(bytes_, other.bytes_, kInline);
  // The heap bytes, if any, are ours now.
  other.size_ = 0;
}

RevocationIndex::Key::~Key() {
  if (size_ != kOnHeap) return;
  char* heap;
  std::memcpy(&heap, bytes_, sizeof(heap));
  delete[] heap;
}

absl::string_view RevocationIndex::Key::view() const {
  if (size_ != kOnHeap) return absl::string_view(bytes_, size_);
  const char* heap;
  size_t size;
  std::memcpy(&heap, bytes_, sizeof(heap));
  std::memcpy(&size, bytes_ + sizeof(heap), sizeof(size));
  return absl::string_view(heap, size);
}

RevocationIndex::ShardBuilder::ShardBuilder()
    : tables_(std::make_unique<Tables>()) {}
RevocationIndex::ShardBuilder::~ShardBuilder() = default;
RevocationIndex::ShardBuilder::ShardBuilder(ShardBuilder&&) noexcept = default;
RevocationIndex::ShardBuilder& RevocationIndex::ShardBuilder::operator=(
    ShardBuilder&&) noexcept = default;

void RevocationIndex::ShardBuilder::Reserve(size_t tokens, size_t sessions,
                                            size_t subject_systems,
                                            size_t subjects) {
  tables_->tokens.reserve(tokens);
  tables_->sessions.reserve(sessions);
  // Keyed by subject; most subjects have one or two systems.
  tables_->subject_systems.reserve(subject_systems);
  tables_->subjects.reserve(subjects);
}

bool RevocationIndex::ShardBuilder::Add(size_t shard, const EntryView& entry) {
  if (ShardOf(entry.key) != shard) return false;
  MergeInto(*tables_, entry);
  return true;
}

size_t RevocationIndex::ShardOf(absl::string_view key) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ key.size();
  while (key.size() >= 8) {
    uint64_t word;
    std::memcpy(&word, key.data(), 8);
    h = Mix(h ^ word);
    key.remove_prefix(8);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, key.data(), key.size());
  h = Mix(h ^ tail);
  return static_cast<size_t>(h % kShards);
}

absl::string_view RevocationIndex::PrimaryKey(const Revocation& r) {
  switch (r.scope) {
    case RevocationScope::kToken:
      return r.token_id;
    case RevocationScope::kSession:
      return r.session_id;
    case RevocationScope::kSubjectSystem:
    case RevocationScope::kSubject:
      return r.subject;
  }
  return r.subject;
}

void RevocationIndex::Merge(Table& table, absl::string_view key,
                            int64_t not_before_us, absl::Time expires_at) {
  auto [it, inserted] =
      table.try_emplace(key, Entry{not_before_us, expires_at});
  if (inserted) return;
  Entry& e = it->second;
  e.not_before_us = std::max(e.not_before_us, not_before_us);
  e.expires_at = std::max(e.expires_at, expires_at);
}

void RevocationIndex::MergeInto(Shard& shard, const EntryView& entry) {
  switch (entry.scope) {
    case RevocationScope::kToken:
      Merge(shard.tokens, entry.key, entry.not_before_us, entry.expires_at);
      break;
    case RevocationScope::kSession:
      Merge(shard.sessions, entry.key, entry.not_before_us, entry.expires_at);
      break;
    case RevocationScope::kSubjectSystem: {
      auto it = shard.subject_systems.find(entry.key);
      if (it == shard.subject_systems.end()) {
        it = shard.subject_systems.try_emplace(entry.key).first;
      }
      Merge(it->second, entry.system, entry.not_before_us, entry.expires_at);
      break;
    }
    case RevocationScope::kSubject:
      Merge(shard.subjects, entry.key, entry.not_before_us, entry.expires_at);
      break;
  }
}

void RevocationIndex::Apply(const Revocation& r) {
  base::StripedWriterLock lock(&mu_);
  ApplyLocked(r);
}

void RevocationIndex::ApplyAll(absl::Span<const Revocation> revocations) {
  base::StripedWriterLock lock(&mu_);
  for (const Revocation& r : revocations) ApplyLocked(r);
}

void RevocationIndex::ApplyLocked(const Revocation& r) {
  const absl::string_view key = PrimaryKey(r);
  MergeInto(shards_[ShardOf(key)],
            EntryView{r.scope, key, r.system, r.not_before_us, r.expires_at});
  last_seq_ = std::max(last_seq_, r.seq);
  generation_.fetch_add(1, std::memory_order_release);
}

void RevocationIndex::Swap(RevocationIndex& other) {
  if (&other == this) return;
  // A fixed lock order (by address) keeps two concurrent swaps of the same
  // pair from deadlocking. Spelled out per order, so that the thread-safety
  // analysis sees which lock each guard holds.
  if (std::less<base::StripedMutex*>()(&mu_, &other.mu_)) {
    base::StripedWriterLock lock_mine(&mu_);
    base::StripedWriterLock lock_other(&other.mu_);
    SwapLocked(other);
  } else {
    base::StripedWriterLock lock_other(&other.mu_);
    base::StripedWriterLock lock_mine(&mu_);
    SwapLocked(other);
  }
}

void RevocationIndex::SwapLocked(RevocationIndex& other) {
  shards_.swap(other.shards_);
  std::swap(last_seq_, other.last_seq_);
  generation_.fetch_add(1, std::memory_order_release);
  other.generation_.fetch_add(1, std::memory_order_release);
}

Reason RevocationIndex::Check(const JwtClaims& claims,
                              absl::string_view system) const {
  base::StripedReaderLock lock(&mu_);
  const int64_t iat = claims.issued_at_us;
  // A revocation covers tokens issued strictly before it: the authority
  // gives revocations and tokens distinct instants, so a token issued right
  // after a logout stays valid.
  auto covers = [iat](const Table& table, absl::string_view key) {
    auto it = table.find(key);
    return it != table.end() && iat < it->second.not_before_us;
  };
  if (shards_[ShardOf(claims.token_id)].tokens.contains(claims.token_id)) {
    return Reason::kTokenRevoked;
  }
  if (covers(shards_[ShardOf(claims.session_id)].sessions, claims.session_id)) {
    return Reason::kSessionRevoked;
  }
  const Shard& subject_shard = shards_[ShardOf(claims.subject)];
  if (covers(subject_shard.subjects, claims.subject)) {
    return Reason::kLoggedOutAll;
  }
  auto systems = subject_shard.subject_systems.find(claims.subject);
  if (systems == subject_shard.subject_systems.end() ||
      !covers(systems->second, system)) {
    return Reason::kValid;
  }
  for (const std::string& audience : claims.audience) {
    if (!covers(systems->second, audience)) return Reason::kLoggedOutOfSystem;
  }
  return Reason::kLoggedOut;
}

bool RevocationIndex::PruneTable(Table& table, absl::Time now) {
  absl::erase_if(table, [now](const auto& entry) {
    return entry.second.expires_at <= now;
  });
  return table.empty();
}

void RevocationIndex::Prune(absl::Time now) {
  base::StripedWriterLock lock(&mu_);
  for (Shard& shard : shards_) {
    PruneTable(shard.tokens, now);
    PruneTable(shard.sessions, now);
    PruneTable(shard.subjects, now);
    absl::erase_if(shard.subject_systems, [now](auto& entry) {
      return PruneTable(entry.second, now);
    });
  }
}

size_t RevocationIndex::size() const {
  base::StripedReaderLock lock(&mu_);
  size_t total = 0;
  for (const Shard& shard : shards_) {
    total +=
        shard.tokens.size() + shard.sessions.size() + shard.subjects.size();
    for (const auto& [subject, systems] : shard.subject_systems) {
      total += systems.size();
    }
  }
  return total;
}

uint64_t RevocationIndex::last_seq() const {
  base::StripedReaderLock lock(&mu_);
  return last_seq_;
}

void RevocationIndex::RaiseSeq(uint64_t seq) {
  base::StripedWriterLock lock(&mu_);
  last_seq_ = std::max(last_seq_, seq);
}

void RevocationIndex::ForEachInShard(
    size_t shard, absl::Time now,
    const std::function<void(const EntryView&)>& fn) const {
  base::StripedReaderLock lock(&mu_);
  if (shard >= kShards) return;
  const Shard& s = shards_[shard];
  auto each = [&](RevocationScope scope, const Table& table,
                  absl::string_view key_of_table) {
    for (const auto& [key, entry] : table) {
      if (entry.expires_at <= now) continue;
      EntryView view{scope, key.view(), "", entry.not_before_us,
                     entry.expires_at};
      if (scope == RevocationScope::kSubjectSystem) {
        view.key = key_of_table;
        view.system = key.view();
      }
      fn(view);
    }
  };
  each(RevocationScope::kToken, s.tokens, "");
  each(RevocationScope::kSession, s.sessions, "");
  for (const auto& [subject, systems] : s.subject_systems) {
    each(RevocationScope::kSubjectSystem, systems, subject.view());
  }
  each(RevocationScope::kSubject, s.subjects, "");
}

bool RevocationIndex::Load(std::vector<ShardBuilder>& shards, uint64_t seq) {
  if (shards.size() != kShards) return false;
  {
    base::StripedWriterLock lock(&mu_);
    for (size_t i = 0; i < kShards; ++i) {
      // Swapped, not moved: the old tables are freed below, outside the
      // lock.
      std::swap(shards_[i], static_cast<Shard&>(*shards[i].tables_));
    }
    last_seq_ = seq;
    generation_.fetch_add(1, std::memory_order_release);
  }
  shards.clear();
  return true;
}

}  // namespace sigil::token
