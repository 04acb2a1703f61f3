#include "token/revocation_index.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sigil::token {
namespace {

// Subjects and systems never contain NUL (the authority rejects them), so
// the separator keeps ("a", "b\0c") and ("a\0b", "c") apart.
std::string SubjectSystemKey(absl::string_view subject,
                             absl::string_view system) {
  return absl::StrCat(subject, absl::string_view("\0", 1), system);
}

}  // namespace

void RevocationIndex::Merge(Table& table, std::string key,
                            const Revocation& r) {
  auto [it, inserted] =
      table.try_emplace(std::move(key), Entry{r.not_before_us, r.expires_at});
  if (inserted) return;
  Entry& e = it->second;
  e.not_before_us = std::max(e.not_before_us, r.not_before_us);
  e.expires_at = std::max(e.expires_at, r.expires_at);
}

void RevocationIndex::Apply(const Revocation& r) {
  absl::MutexLock lock(&mu_);
  switch (r.scope) {
    case RevocationScope::kToken:
      Merge(tokens_, r.token_id, r);
      break;
    case RevocationScope::kSession:
      Merge(sessions_, r.session_id, r);
      break;
    case RevocationScope::kSubjectSystem:
      Merge(subject_systems_, SubjectSystemKey(r.subject, r.system), r);
      break;
    case RevocationScope::kSubject:
      Merge(subjects_, r.subject, r);
      break;
  }
  last_seq_ = std::max(last_seq_, r.seq);
}

Reason RevocationIndex::Check(const JwtClaims& claims,
                              absl::string_view system) const {
  absl::ReaderMutexLock lock(&mu_);
  const int64_t iat = claims.issued_at_us;
  // A revocation covers tokens issued strictly before it: the authority
  // gives revocations and tokens distinct instants, so a token issued right
  // after a logout stays valid.
  auto covers = [iat](const Table& table, const std::string& key) {
    auto it = table.find(key);
    return it != table.end() && iat < it->second.not_before_us;
  };
  if (tokens_.contains(claims.token_id)) return Reason::kTokenRevoked;
  if (covers(sessions_, claims.session_id)) return Reason::kSessionRevoked;
  if (covers(subjects_, claims.subject)) return Reason::kLoggedOutAll;
  if (!covers(subject_systems_, SubjectSystemKey(claims.subject, system))) {
    return Reason::kValid;
  }
  for (const std::string& audience : claims.audience) {
    if (!covers(subject_systems_, SubjectSystemKey(claims.subject, audience))) {
      return Reason::kLoggedOutOfSystem;
    }
  }
  return Reason::kLoggedOut;
}

void RevocationIndex::Clear() {
  absl::MutexLock lock(&mu_);
  tokens_.clear();
  sessions_.clear();
  subject_systems_.clear();
  subjects_.clear();
  last_seq_ = 0;
}

void RevocationIndex::Prune(absl::Time now) {
  absl::MutexLock lock(&mu_);
  for (Table* table : {&tokens_, &sessions_, &subject_systems_, &subjects_}) {
    for (auto it = table->begin(); it != table->end();) {
      if (it->second.expires_at <= now) {
        table->erase(it++);
      } else {
        ++it;
      }
    }
  }
}

size_t RevocationIndex::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return tokens_.size() + sessions_.size() + subject_systems_.size() +
         subjects_.size();
}

uint64_t RevocationIndex::last_seq() const {
  absl::ReaderMutexLock lock(&mu_);
  return last_seq_;
}

}  // namespace sigil::token
