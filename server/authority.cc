#include "server/authority.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/random_id.h"
#include "server/refresh_token.h"
#include "server/validation.h"
#include "telemetry/log.h"

namespace sigil::server {
namespace {

using token::Reason;

// Why a revocation reason applies, for the verdict message.
std::string RevokedMessage(Reason reason, absl::string_view system) {
  switch (reason) {
    case Reason::kTokenRevoked:
      return "token was revoked";
    case Reason::kSessionRevoked:
      return "session was ended";
    case Reason::kLoggedOut:
      return absl::StrCat("subject logged out of ", system);
    case Reason::kLoggedOutAll:
      return "subject logged out of every system";
    case Reason::kLoggedOutOfSystem:
      return absl::StrCat("subject logged out of ", system,
                          "; the token is still valid at its other systems");
    default:
      return std::string(token::ReasonName(reason));
  }
}

absl::string_view ScopeName(token::RevocationScope scope) {
  switch (scope) {
    case token::RevocationScope::kToken:
      return "token";
    case token::RevocationScope::kSession:
      return "session";
    case token::RevocationScope::kSubjectSystem:
      return "subject_system";
    case token::RevocationScope::kSubject:
      return "subject";
  }
  return "unknown";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authority>> Authority::Create(
    AuthorityOptions options, store::Store* store, const token::Clock* clock,
    std::unique_ptr<KeyManager> keys, RevocationFeed* feed) {
  if (options.default_ttl <= absl::ZeroDuration() ||
      options.default_ttl > options.max_ttl) {
    return absl::InvalidArgumentError(
        "default token ttl must be positive and at most the maximum ttl");
  }
  if (options.refresh_idle_ttl <= absl::ZeroDuration() ||
      options.refresh_ttl <= absl::ZeroDuration() ||
      options.refresh_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "refresh lifetimes must be positive and the grace window not "
        "negative");
  }
  if (options.key_rotation_period < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "key rotation period must not be negative");
  }
  std::unique_ptr<Authority> authority(
      new Authority(std::move(options), store, clock, std::move(keys), feed));
  auto load = LoadIndex(store, clock->Now(), authority->options_.index_snapshot,
                        &authority->index_);
  if (!load.ok()) return load.status();
  authority->index_load_ = *std::move(load);
  {
    absl::MutexLock lock(&authority->applied_mu_);
    authority->applied_seq_ = authority->index_.last_seq();
  }
  const IndexLoad& loaded = authority->index_load_;
  if (!loaded.snapshot_refused.empty()) {
    // Never trusted, never fatal: the scan below the snapshot is the
    // truth, and the next snapshot replaces the refused one.
    telemetry::Log(telemetry::LogLevel::kWarning,
                   "index snapshot refused; scanned the store instead",
                   {{"path", authority->options_.index_snapshot},
                    {"reason", loaded.snapshot_refused}});
  }
  telemetry::Log(
      telemetry::LogLevel::kInfo,
      loaded.from_snapshot ? "revocation index loaded from snapshot"
                           : "revocation index loaded by a full scan",
      {{"entries", absl::StrCat(loaded.entries)},
       {"snapshot_seq", absl::StrCat(loaded.snapshot_seq)},
       {"replayed_events", absl::StrCat(loaded.replayed_events)},
       {"last_seq", absl::StrCat(authority->index_.last_seq())},
       {"seconds", absl::StrCat(absl::ToDoubleSeconds(loaded.took))}});
  return authority;
}

Authority::Authority(AuthorityOptions options, store::Store* store,
                     const token::Clock* clock,
                     std::unique_ptr<KeyManager> keys, RevocationFeed* feed)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      keys_(std::move(keys)),
      verifier_(
          token::JwtVerifierOptions{options_.issuer, clock, options_.max_ttl}),
      verified_(options_.verified_cache_capacity),
      feed_(feed),
      ticks_(clock, store),
      revocations_([this](absl::Span<Revocations::Slot* const> batch) {
        CommitRevocations(batch);
      }) {}

absl::StatusOr<IssuedToken> Authority::Issue(const IssueParams& params) {
  absl::Status valid =
      ValidateIssue(params.subject, params.systems, params.scopes);
  if (!valid.ok()) return valid;
  const absl::Duration ttl = params.ttl.value_or(options_.default_ttl);
  if (ttl < absl::Seconds(1) || ttl > options_.max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ttl must be between 1s and ", absl::FormatDuration(options_.max_ttl)));
  }

  const absl::Time now = clock_->Now();
  store::Session session;
  session.session_id = RandomId();
  session.subject = params.subject;
  session.systems = params.systems;
  session.scopes = params.scopes;
  session.created = now;
  session.expires_at = now + options_.refresh_ttl;
  session.idle_expires_at =
      std::min(now + options_.refresh_idle_ttl, session.expires_at);
  session.access_ttl = ttl;
  session.refresh_secret = NewRefreshToken();

  // A shared store refuses an instant that a logout committed at another
  // replica has overtaken (ABORTED): the next tick lies above that logout.
  absl::Status recorded = absl::OkStatus();
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto tick = ticks_.Next();
    if (!tick.ok()) return tick.status();
    session.created_us = *tick;
    auto issued = Mint(session, session.systems, *tick);
    if (!issued.ok()) return issued.status();
    issued->refresh_token = NewRefreshToken();
    recorded =
        store_->PutSession(session, RefreshTokenHash(issued->refresh_token));
    if (recorded.ok()) return issued;
    if (recorded.code() != absl::StatusCode::kAborted) return recorded;
  }
  return absl::UnavailableError(
      absl::StrCat("cannot record session: ", recorded.message()));
}

absl::StatusOr<IssuedToken> Authority::Mint(
    const store::Session& session, const std::vector<std::string>& systems,
    int64_t tick) {
  const absl::Time now = clock_->Now();
  token::JwtClaims claims;
  claims.issuer = options_.issuer;
  claims.subject = session.subject;
  claims.audience = systems;
  // The tick was taken a moment before `now` and may lie in the second
  // before it: iat never follows the token's instant (verifiers check).
  claims.issued_at = absl::FromUnixSeconds(
      absl::ToUnixSeconds(std::min(now, absl::FromUnixMicros(tick))));
  claims.expires_at =
      absl::FromUnixSeconds(absl::ToUnixSeconds(now + session.access_ttl));
  claims.token_id = RandomId();
  claims.session_id = session.session_id;
  claims.scopes = session.scopes;
  claims.issued_at_us = tick;

  auto signed_token = keys_->Current()->signer.Sign(claims);
  if (!signed_token.ok()) return signed_token.status();
  const size_t max_bytes = token::JwtVerifierOptions().max_token_bytes;
  if (signed_token->size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the token would be ", signed_token->size(), " bytes, over the ",
        max_bytes, " verifiers accept; name fewer or shorter systems/scopes"));
  }
  telemetry::Log(telemetry::LogLevel::kInfo, "issue",
                 {{"subject", claims.subject},
                  {"systems", absl::StrJoin(claims.audience, ",")},
                  {"sid", claims.session_id},
                  {"jti", claims.token_id}});
  return IssuedToken{*std::move(signed_token), "",
                     claims.token_id,          claims.session_id,
                     claims.expires_at,        claims.subject,
                     claims.audience};
}

absl::StatusOr<IssuedToken> Authority::Refresh(absl::string_view refresh_token,
                                               const Authorize& authorize) {
  if (refresh_token.empty()) {
    return absl::InvalidArgumentError("refresh_token is required");
  }
  const absl::Status invalid =
      absl::UnauthenticatedError("refresh token is not valid");
  if (!LooksLikeRefreshToken(refresh_token)) return invalid;
  // The store writes a rotation only over the session as this call read it.
  // ABORTED says it changed in between: a revocation ended it (and must not
  // be undone) or a concurrent refresh rotated the same token first. Read
  // again; the second read sees either the end or a spent token.
  constexpr int kAttempts = 4;
  for (int attempt = 1; attempt < kAttempts; ++attempt) {
    absl::StatusOr<IssuedToken> refreshed =
        TryRefresh(refresh_token, authorize);
    if (refreshed.status().code() != absl::StatusCode::kAborted) {
      return refreshed;
    }
  }
  return TryRefresh(refresh_token, authorize);
}

absl::StatusOr<IssuedToken> Authority::TryRefresh(
    absl::string_view refresh_token, const Authorize& authorize) {
  const absl::Status invalid =
      absl::UnauthenticatedError("refresh token is not valid");
  const std::string hash = RefreshTokenHash(refresh_token);

  std::optional<store::Session> session;
  std::optional<store::RefreshToken> record;
  int64_t tick = 0;
  {
    absl::ReaderMutexLock lock(&record_mu_);
    auto found = store_->GetRefreshToken(hash);
    if (!found.ok()) return found.status();
    if (!found->has_value()) return invalid;
    record = **found;
    auto live = store_->GetSession(record->subject, record->session_id);
    if (!live.ok()) return live.status();
    if (!live->has_value()) {
      return absl::UnauthenticatedError(
          "refresh token's session has ended or expired");
    }
    session = **live;
    if (authorize) {
      absl::Status allowed = authorize(session->systems);
      if (!allowed.ok()) return allowed;
    }
    auto next = ticks_.Next();
    if (!next.ok()) return next.status();
    tick = *next;
  }

  const absl::Time now = clock_->Now();
  const std::string successor =
      SuccessorOf(session->refresh_secret, refresh_token);
  if (record->spent()) {
    if (now - record->rotated_at > options_.refresh_grace) {
      absl::Status ended = EndSession(*session);
      if (!ended.ok()) return ended;
      return absl::UnauthenticatedError(
          "refresh token was already used; its session is ended");
    }
    // A retry within the grace window: the same successor, no new rotation,
    // but an instant that later logouts at other replicas must cover.
    absl::Status recorded = store_->RecordInstant(tick);
    if (!recorded.ok()) return recorded;
    auto issued = Mint(*session, session->systems, tick);
    if (!issued.ok()) return issued.status();
    issued->refresh_token = successor;
    return issued;
  }

  session->last_refreshed = now;
  session->refreshed_us = tick;
  session->idle_expires_at =
      std::min(now + options_.refresh_idle_ttl, session->expires_at);
  auto issued = Mint(*session, session->systems, tick);
  if (!issued.ok()) return issued.status();
  absl::Status rotated = store_->RotateRefreshToken(
      *session, *record, RefreshTokenHash(successor), now);
  if (!rotated.ok()) return rotated;
  issued->refresh_token = successor;
  return issued;
}

absl::Status Authority::EndSession(const store::Session& session) {
  token::Revocation r;
  r.scope = token::RevocationScope::kSession;
  r.subject = session.subject;
  r.session_id = session.session_id;
  return Record(std::move(r)).status();
}

absl::StatusOr<std::vector<store::Session>> Authority::ListSessions(
    absl::string_view subject) {
  absl::Status valid = ValidateSubject(subject);
  if (!valid.ok()) return valid;
  return store_->ListSessions(subject);
}

absl::StatusOr<Authority::SessionPage> Authority::ListSessionsPage(
    absl::string_view subject, absl::string_view page_token,
    int32_t page_size) {
  constexpr int32_t kDefaultPageSize = 100;
  constexpr int32_t kMaxPageSize = 1000;
  absl::Status valid = ValidateSubject(subject);
  if (!valid.ok()) return valid;
  if (page_size < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  // The token is the last session id of the previous page: RandomId's 32
  // lowercase hex digits, checked so that no other text reaches a key.
  const bool token_ok =
      page_token.empty() ||
      (page_token.size() == 32 &&
       std::all_of(page_token.begin(), page_token.end(), [](char c) {
         return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
       }));
  if (!token_ok) {
    return absl::InvalidArgumentError(
        "page_token is not one a ListSessions reply gave");
  }
  const size_t size =
      page_size == 0 ? kDefaultPageSize : std::min(page_size, kMaxPageSize);
  // One more than the page, to know whether another follows.
  auto sessions = store_->ListSessionsAfter(subject, page_token, size + 1);
  if (!sessions.ok()) return sessions.status();
  SessionPage page;
  page.sessions = *std::move(sessions);
  if (page.sessions.size() > size) {
    page.sessions.resize(size);
    page.next_page_token = page.sessions.back().session_id;
  }
  return page;
}

absl::StatusOr<Verdict> Authority::Verify(
    absl::string_view token, absl::string_view system,
    absl::Span<const std::string> required_scopes) const {
  if (token.empty()) return absl::InvalidArgumentError("token is required");
  absl::Status valid = ValidateSystem(system);
  if (!valid.ok()) return valid;
  for (const std::string& scope : required_scopes) {
    valid = ValidateScope(scope);
    if (!valid.ok()) return valid;
  }

  absl::StatusOr<token::ClaimsCache::Claims> verified = VerifySignature(token);
  if (!verified.ok() && !token::IsVerdict(verified.status())) {
    return verified.status();
  }
  if (!verified.ok()) {
    return Verdict{token::ReasonOf(verified.status()),
                   std::string(verified.status().message()), std::nullopt,
                   std::nullopt};
  }
  const token::JwtClaims& claims = **verified;
  // Last of the verifier's checks, as JwtVerifier::Verify orders them.
  if (!token::IssuedFor(claims, system)) {
    return Verdict{Reason::kWrongAudience,
                   "token is not issued for this audience", std::nullopt,
                   std::nullopt};
  }
  const Reason revoked = index_.Check(claims, system);
  if (revoked != Reason::kValid) {
    return Verdict{revoked, RevokedMessage(revoked, system), std::nullopt,
                   std::nullopt};
  }
  const absl::Status granted = token::CheckScopes(claims, required_scopes);
  if (!granted.ok()) {
    // A cacheable verdict: scopes do not change while the token lives.
    return Verdict{token::ReasonOf(granted), std::string(granted.message()),
                   std::nullopt, claims.expires_at};
  }
  return Verdict{Reason::kValid, "", claims, claims.expires_at};
}

absl::StatusOr<token::ClaimsCache::Claims> Authority::VerifySignature(
    absl::string_view token) const {
  const absl::Time now = clock_->Now();
  // The generation is the client's business; here a hit only saves the
  // signature check, and the revocation index is asked on every call.
  token::ClaimsCache::Hit hit = verified_.Find(token, now, 0);
  if (hit.claims != nullptr) return hit.claims;
  const std::shared_ptr<const KeySnapshot> keys = keys_->Current();
  auto jwt = verifier_.VerifyIgnoringAudience(token, keys->public_keys);
  if (!jwt.ok()) return jwt.status();
  auto claims = std::make_shared<const token::JwtClaims>(jwt->claims());
  verified_.Insert(token, claims, 0, now);
  return claims;
}

absl::StatusOr<std::string> Authority::SubjectOf(
    const LogoutTarget& target, absl::string_view system,
    const Authorize& authorize) const {
  if (target.subject.empty() == target.token.empty()) {
    return absl::InvalidArgumentError(
        "exactly one of subject or token is required");
  }
  if (!target.subject.empty()) {
    absl::Status valid = ValidateSubject(target.subject);
    if (!valid.ok()) return valid;
    return target.subject;
  }
  const std::shared_ptr<const KeySnapshot> keys = keys_->Current();
  auto jwt = verifier_.VerifyIgnoringAudience(target.token, keys->public_keys);
  if (!jwt.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("token is not a valid credential: ",
                     token::ReasonName(token::ReasonOf(jwt.status()))));
  }
  const token::JwtClaims& claims = jwt->claims();
  if (!system.empty() && !token::IssuedFor(claims, system)) {
    return absl::PermissionDeniedError(
        absl::StrCat("token is not issued for system ", system));
  }
  // A revoked token is no credential, not even to log its subject out: a
  // thief holding one must not be able to end the victim's sessions. A
  // token logged out of some of its systems still authenticates at the
  // others, and a repeated logout there is harmless.
  const std::vector<std::string> at =
      system.empty() ? claims.audience
                     : std::vector<std::string>{std::string(system)};
  const bool authenticates =
      std::any_of(at.begin(), at.end(), [&](const std::string& s) {
        return token::CodeOf(index_.Check(claims, s)) !=
               absl::StatusCode::kUnauthenticated;
      });
  if (!authenticates) {
    return absl::UnauthenticatedError(
        absl::StrCat("token is not a valid credential: ",
                     token::ReasonName(index_.Check(claims, at.front()))));
  }
  if (authorize) {
    // "A token valid at X" (README): a system may act with the user's token
    // only where that token still authenticates. Once the user logged out
    // of A, A holds a token it must refuse, and it cannot use it to end
    // the user's sessions at B.
    const std::vector<std::string> valid_at = ValidAt(claims);
    if (valid_at.empty()) {
      return absl::UnauthenticatedError(
          "token is not a valid credential at any of its systems");
    }
    absl::Status allowed = authorize(valid_at);
    if (!allowed.ok()) return allowed;
  }
  return claims.subject;
}

std::vector<std::string> Authority::ValidAt(
    const token::JwtClaims& claims) const {
  std::vector<std::string> valid_at;
  for (const std::string& system : claims.audience) {
    if (index_.Check(claims, system) == Reason::kValid) {
      valid_at.push_back(system);
    }
  }
  return valid_at;
}

absl::StatusOr<LogoutResult> Authority::LogoutFromSystem(
    absl::string_view system, const LogoutTarget& target) {
  absl::Status valid = ValidateSystem(system);
  if (!valid.ok()) return valid;
  auto subject = SubjectOf(target, system, {});
  if (!subject.ok()) return subject.status();
  token::Revocation r;
  r.scope = token::RevocationScope::kSubjectSystem;
  r.subject = *std::move(subject);
  r.system = std::string(system);
  // By subject, the caller may name anyone, and each recorded logout costs
  // memory here and at every verifier for max_ttl: it is recorded only if
  // the subject may hold a live token at `system`, decided inside the
  // store's write (see Store::AppendRevocations for why a racing login is
  // safe). By token, the token itself shows there is something to end.
  return Record(std::move(r), target.subject.empty()
                                  ? store::Store::RecordIf::kAlways
                                  : store::Store::RecordIf::kIfLoggedIn);
}

absl::StatusOr<LogoutResult> Authority::LogoutAll(const LogoutTarget& target,
                                                  const Authorize& authorize) {
  auto subject = SubjectOf(target, "", authorize);
  if (!subject.ok()) return subject.status();
  token::Revocation r;
  r.scope = token::RevocationScope::kSubject;
  r.subject = *std::move(subject);
  return Record(std::move(r));
}

absl::StatusOr<Revoked> Authority::Revoke(absl::string_view token,
                                          const Authorize& authorize) {
  if (token.empty()) return absl::InvalidArgumentError("token is required");
  if (LooksLikeRefreshToken(token)) {
    auto record = store_->GetRefreshToken(RefreshTokenHash(token));
    if (!record.ok()) return record.status();
    if (!record->has_value()) return Revoked();
    auto session =
        store_->GetSession((*record)->subject, (*record)->session_id);
    if (!session.ok()) return session.status();
    if (!session->has_value()) return Revoked();
    if (authorize) {
      absl::Status allowed = authorize((*session)->systems);
      if (!allowed.ok()) return allowed;
    }
    absl::Status ended = EndSession(**session);
    if (!ended.ok()) return ended;
    return Revoked{(*session)->subject, (*session)->systems,
                   (*session)->session_id, ""};
  }
  const std::shared_ptr<const KeySnapshot> keys = keys_->Current();
  auto jwt = verifier_.VerifyIgnoringAudience(token, keys->public_keys);
  if (!jwt.ok()) return Revoked();
  const token::JwtClaims& claims = jwt->claims();
  if (index_.Check(claims, claims.audience.front()) == Reason::kTokenRevoked) {
    return Revoked();
  }
  if (authorize) {
    // Where the token still authenticates (see SubjectOf): a system the
    // user logged out of cannot end the token at the others. A token dead
    // everywhere may be revoked by any of its systems: that ends nothing.
    std::vector<std::string> valid_at = ValidAt(claims);
    if (valid_at.empty()) valid_at = claims.audience;
    absl::Status allowed = authorize(valid_at);
    if (!allowed.ok()) return allowed;
  }
  token::Revocation r;
  r.scope = token::RevocationScope::kToken;
  r.subject = claims.subject;
  r.token_id = claims.token_id;
  r.expires_at = claims.expires_at;
  auto recorded = Record(std::move(r));
  if (!recorded.ok()) return recorded.status();
  return Revoked{claims.subject, claims.audience, claims.session_id,
                 claims.token_id};
}

absl::StatusOr<LogoutResult> Authority::Record(
    token::Revocation revocation, store::Store::RecordIf condition) {
  return revocations_.Submit(Pending{std::move(revocation), condition});
}

void Authority::CommitRevocations(absl::Span<Revocations::Slot* const> batch) {
  absl::MutexLock lock(&record_mu_);
  std::vector<Revocations::Slot*> stamped;
  stamped.reserve(batch.size());
  for (Revocations::Slot* slot : batch) {
    auto tick = ticks_.Next();
    if (!tick.ok()) {
      slot->result = tick.status();
      continue;
    }
    token::Revocation& revocation = slot->op.revocation;
    revocation.not_before_us = *tick;
    if (revocation.scope != token::RevocationScope::kToken) {
      // Every token this covers was issued at an earlier tick, never before
      // the clock reading it expires from, with a ttl of at most max_ttl:
      // all have expired by then. Counting from the tick rather than the
      // clock keeps that true if the clock steps back between issue and
      // logout.
      revocation.expires_at = absl::FromUnixMicros(*tick) + options_.max_ttl;
    }
    stamped.push_back(slot);
  }
  Append(stamped);
}

void Authority::Append(absl::Span<Revocations::Slot* const> batch) {
  if (batch.empty()) return;
  std::vector<token::Revocation> revocations;
  std::vector<store::Store::RecordIf> conditions;
  revocations.reserve(batch.size());
  conditions.reserve(batch.size());
  for (const Revocations::Slot* slot : batch) {
    revocations.push_back(slot->op.revocation);
    conditions.push_back(slot->op.condition);
  }
  auto appended = store_->AppendRevocations(revocations, conditions);
  if (!appended.ok()) {
    if (batch.size() == 1) {
      batch.front()->result = appended.status();
      return;
    }
    for (Revocations::Slot* slot : batch) Append({slot});
    return;
  }
  std::vector<token::Revocation> recorded;
  recorded.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const store::Store::AppendResult& result = (*appended)[i];
    if (!result.recorded) continue;
    revocations[i].seq = result.seq;
    revocations[i].not_before_us = result.not_before_us;
    revocations[i].expires_at = result.expires_at;
    recorded.push_back(revocations[i]);
  }
  if (options_.followed) {
    // In force here once the follower has brought it back; other replicas
    // apply it from their own followers at the same time.
    uint64_t highest = 0;
    for (const token::Revocation& r : recorded)
      highest = std::max(highest, r.seq);
    absl::MutexLock lock(&applied_mu_);
    auto applied = [this, highest] {
      applied_mu_.AssertHeld();
      return applied_seq_ >= highest;
    };
    if (!applied_mu_.AwaitWithTimeout(absl::Condition(&applied),
                                      options_.followed_apply_timeout)) {
      for (Revocations::Slot* slot : batch) {
        slot->result = absl::UnavailableError(
            "revocation recorded, but not yet applied here; retrying it is "
            "safe");
      }
      return;
    }
  } else if (!recorded.empty()) {
    // Every one in the index before any is published or answered.
    index_.ApplyAll(recorded);
    absl::MutexLock lock(&applied_mu_);
    applied_seq_ = std::max(applied_seq_, recorded.back().seq);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const token::Revocation& revocation = revocations[i];
    const store::Store::AppendResult& result = (*appended)[i];
    if (!result.recorded) {
      // Nothing to log out of: no state, no event, no line.
      batch[i]->result = LogoutResult{0, 0, revocation.subject};
      continue;
    }
    if (!options_.followed) feed_->Publish(revocation);

    telemetry::LogFields fields = {
        {"seq", absl::StrCat(revocation.seq)},
        {"scope", std::string(ScopeName(revocation.scope))},
        {"subject", revocation.subject}};
    if (!revocation.system.empty()) {
      fields.push_back({"system", revocation.system});
    }
    if (!revocation.token_id.empty()) {
      fields.push_back({"jti", revocation.token_id});
    }
    fields.push_back(
        {"revoked_sessions", absl::StrCat(result.revoked_sessions)});
    telemetry::Log(telemetry::LogLevel::kInfo, "revoke", fields);
    batch[i]->result = LogoutResult{result.revoked_sessions, revocation.seq,
                                    revocation.subject};
  }
}

void Authority::ApplyFollowed(std::vector<token::Revocation> events) {
  absl::MutexLock lock(&applied_mu_);
  // The follower's catch-up read after a restart of its watch overlaps
  // what it delivered; the index at start may hold more than its seq says.
  events.erase(std::remove_if(events.begin(), events.end(),
                              [this](const token::Revocation& event) {
                                applied_mu_.AssertHeld();
                                return event.seq <= applied_seq_;
                              }),
               events.end());
  if (events.empty()) return;
  // In the index before the feed tells anyone, as for local appends.
  index_.ApplyAll(events);
  for (const token::Revocation& event : events) feed_->Publish(event);
  applied_seq_ = events.back().seq;
}

uint64_t Authority::applied_seq() const {
  absl::MutexLock lock(&applied_mu_);
  return applied_seq_;
}

void Authority::PruneExpired() { index_.Prune(clock_->Now()); }

absl::StatusOr<std::vector<KeyInfo>> Authority::RotateKeys() {
  auto rotated = keys_->Rotate();
  if (!rotated.ok()) return rotated.status();
  feed_->Beat();
  return (*rotated)->keys;
}

std::vector<KeyInfo> Authority::ListKeys() const {
  return keys_->Current()->keys;
}

absl::Status Authority::MaintainKeys() {
  auto removed = keys_->RemoveExpired();
  if (!removed.ok()) return removed.status();
  bool rotated = false;
  if (options_.key_rotation_period > absl::ZeroDuration()) {
    auto due = keys_->RotateIfDue(options_.key_rotation_period);
    if (!due.ok()) return due.status();
    rotated = *due;
  }
  if (*removed || rotated) feed_->Beat();
  return absl::OkStatus();
}

}  // namespace sigil::server
