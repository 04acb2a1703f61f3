#include "token/revocation_index.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "token/clock.h"
#include "token/jwt.h"
#include "token/reason.h"

namespace sigil::token {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1700000000);
const absl::Time kFarFuture = kStart + absl::Hours(1);

// The token every precedence case checks unless it says otherwise: alice's
// token for system A, issued at instant 1000.
constexpr int64_t kIat = 1000;

JwtClaims Claims(std::vector<std::string> audience, int64_t iat = kIat,
                 std::string subject = "alice") {
  JwtClaims claims;
  claims.issuer = "https://sigil.test";
  claims.subject = std::move(subject);
  claims.audience = std::move(audience);
  claims.token_id = "jti-1";
  claims.session_id = "sid-1";
  claims.issued_at_us = iat;
  return claims;
}

Revocation TokenRevocation(std::string token_id, int64_t not_before_us) {
  Revocation r;
  r.scope = RevocationScope::kToken;
  r.token_id = std::move(token_id);
  r.not_before_us = not_before_us;
  r.expires_at = kFarFuture;
  return r;
}

Revocation SessionRevocation(std::string session_id, int64_t not_before_us) {
  Revocation r;
  r.scope = RevocationScope::kSession;
  r.session_id = std::move(session_id);
  r.not_before_us = not_before_us;
  r.expires_at = kFarFuture;
  return r;
}

Revocation SubjectRevocation(std::string subject, int64_t not_before_us) {
  Revocation r;
  r.scope = RevocationScope::kSubject;
  r.subject = std::move(subject);
  r.not_before_us = not_before_us;
  r.expires_at = kFarFuture;
  return r;
}

Revocation SystemRevocation(std::string subject, std::string system,
                            int64_t not_before_us) {
  Revocation r;
  r.scope = RevocationScope::kSubjectSystem;
  r.subject = std::move(subject);
  r.system = std::move(system);
  r.not_before_us = not_before_us;
  r.expires_at = kFarFuture;
  return r;
}

struct PrecedenceCase {
  const char* name;
  std::vector<Revocation> revocations;
  JwtClaims claims;
  const char* system;
  Reason want;
};

// The hand-written precedence table: the cases a reader looks for first.
std::vector<PrecedenceCase> PrecedenceCases() {
  const JwtClaims single = Claims({"A"});
  const JwtClaims multi = Claims({"A", "B", "C"});
  return {
      {"empty index", {}, single, "A", Reason::kValid},

      {"token revoked before issue",
       {TokenRevocation("jti-1", kIat - 1)},
       single,
       "A",
       Reason::kTokenRevoked},
      {"token revoked after issue",
       {TokenRevocation("jti-1", kIat + 1)},
       single,
       "A",
       Reason::kTokenRevoked},
      {"token revoked at issue instant",
       {TokenRevocation("jti-1", kIat)},
       single,
       "A",
       Reason::kTokenRevoked},
      {"token revoked with zero not_before",
       {TokenRevocation("jti-1", 0)},
       single,
       "A",
       Reason::kTokenRevoked},
      {"other token revoked",
       {TokenRevocation("jti-2", kIat + 1)},
       single,
       "A",
       Reason::kValid},

      {"session revoked after issue",
       {SessionRevocation("sid-1", kIat + 1)},
       single,
       "A",
       Reason::kSessionRevoked},
      {"session revoked at issue instant",
       {SessionRevocation("sid-1", kIat)},
       single,
       "A",
       Reason::kValid},
      {"session revoked before issue",
       {SessionRevocation("sid-1", kIat - 1)},
       single,
       "A",
       Reason::kValid},
      {"other session revoked",
       {SessionRevocation("sid-2", kIat + 1)},
       single,
       "A",
       Reason::kValid},

      {"subject logged out after issue",
       {SubjectRevocation("alice", kIat + 1)},
       single,
       "A",
       Reason::kLoggedOutAll},
      {"subject logged out after issue, multi-system token",
       {SubjectRevocation("alice", kIat + 1)},
       multi,
       "B",
       Reason::kLoggedOutAll},
      {"subject logged out at issue instant",
       {SubjectRevocation("alice", kIat)},
       single,
       "A",
       Reason::kValid},
      {"subject logged out before issue",
       {SubjectRevocation("alice", kIat - 1)},
       single,
       "A",
       Reason::kValid},
      {"other subject logged out",
       {SubjectRevocation("bob", kIat + 1)},
       single,
       "A",
       Reason::kValid},

      {"system logged out after issue",
       {SystemRevocation("alice", "A", kIat + 1)},
       single,
       "A",
       Reason::kLoggedOut},
      {"system logged out at issue instant",
       {SystemRevocation("alice", "A", kIat)},
       single,
       "A",
       Reason::kValid},
      {"system logged out before issue",
       {SystemRevocation("alice", "A", kIat - 1)},
       single,
       "A",
       Reason::kValid},
      {"other system logged out",
       {SystemRevocation("alice", "B", kIat + 1)},
       single,
       "A",
       Reason::kValid},
      {"other subject logged out of system",
       {SystemRevocation("bob", "A", kIat + 1)},
       single,
       "A",
       Reason::kValid},
      {"subject and system boundary kept apart",
       {SystemRevocation("alic", "eA", kIat + 1)},
       single,
       "A",
       Reason::kValid},
      {"token of another subject at the logged-out system",
       {SystemRevocation("alice", "A", kIat + 1)},
       Claims({"A"}, kIat, "bob"),
       "A",
       Reason::kValid},

      {"multi-system token, verifying system logged out",
       {SystemRevocation("alice", "A", kIat + 1)},
       multi,
       "A",
       Reason::kLoggedOutOfSystem},
      {"multi-system token, another system logged out",
       {SystemRevocation("alice", "A", kIat + 1)},
       multi,
       "B",
       Reason::kValid},
      {"multi-system token, two of three logged out",
       {SystemRevocation("alice", "A", kIat + 1),
        SystemRevocation("alice", "B", kIat + 1)},
       multi,
       "B",
       Reason::kLoggedOutOfSystem},
      {"multi-system token, every system logged out",
       {SystemRevocation("alice", "A", kIat + 1),
        SystemRevocation("alice", "B", kIat + 1),
        SystemRevocation("alice", "C", kIat + 1)},
       multi,
       "C",
       Reason::kLoggedOut},
      {"multi-system token, last system logged out at issue instant",
       {SystemRevocation("alice", "A", kIat + 1),
        SystemRevocation("alice", "B", kIat + 1),
        SystemRevocation("alice", "C", kIat)},
       multi,
       "A",
       Reason::kLoggedOutOfSystem},
      {"multi-system token, last system logged out before issue",
       {SystemRevocation("alice", "A", kIat + 1),
        SystemRevocation("alice", "B", kIat + 1),
        SystemRevocation("alice", "C", kIat - 1)},
       multi,
       "A",
       Reason::kLoggedOutOfSystem},
      {"multi-system token, last system logged out by another subject",
       {SystemRevocation("alice", "A", kIat + 1),
        SystemRevocation("alice", "B", kIat + 1),
        SystemRevocation("bob", "C", kIat + 1)},
       multi,
       "A",
       Reason::kLoggedOutOfSystem},

      {"every level applies: token wins",
       {SystemRevocation("alice", "A", kIat + 1),
        SubjectRevocation("alice", kIat + 1),
        SessionRevocation("sid-1", kIat + 1),
        TokenRevocation("jti-1", kIat + 1)},
       single,
       "A",
       Reason::kTokenRevoked},
      {"session, subject and system apply: session wins",
       {SystemRevocation("alice", "A", kIat + 1),
        SubjectRevocation("alice", kIat + 1),
        SessionRevocation("sid-1", kIat + 1)},
       single,
       "A",
       Reason::kSessionRevoked},
      {"subject and system apply: subject wins",
       {SystemRevocation("alice", "A", kIat + 1),
        SubjectRevocation("alice", kIat + 1)},
       multi,
       "A",
       Reason::kLoggedOutAll},
      {"older session revocation does not hide a newer logout",
       {SessionRevocation("sid-1", kIat - 1),
        SubjectRevocation("alice", kIat + 1)},
       single,
       "A",
       Reason::kLoggedOutAll},
      {"older subject logout does not hide a newer system logout",
       {SubjectRevocation("alice", kIat - 1),
        SystemRevocation("alice", "A", kIat + 1)},
       single,
       "A",
       Reason::kLoggedOut},

      {"later revocation of a key extends it",
       {SubjectRevocation("alice", kIat - 1),
        SubjectRevocation("alice", kIat + 1)},
       single,
       "A",
       Reason::kLoggedOutAll},
      {"earlier revocation of a key does not shrink it",
       {SubjectRevocation("alice", kIat + 1),
        SubjectRevocation("alice", kIat - 1)},
       single,
       "A",
       Reason::kLoggedOutAll},
  };
}

TEST(RevocationIndexTest, Precedence) {
  for (const PrecedenceCase& c : PrecedenceCases()) {
    SCOPED_TRACE(c.name);
    RevocationIndex index;
    for (const Revocation& r : c.revocations) index.Apply(r);
    EXPECT_EQ(ReasonName(index.Check(c.claims, c.system)), ReasonName(c.want));
  }
}

TEST(RevocationIndexTest, PrecedenceWhenTheRevocationsComeAsOneBatch) {
  for (const PrecedenceCase& c : PrecedenceCases()) {
    SCOPED_TRACE(c.name);
    RevocationIndex index;
    index.ApplyAll(c.revocations);
    EXPECT_EQ(ReasonName(index.Check(c.claims, c.system)), ReasonName(c.want));
  }
}

// Every verdict `index` gives over a grid of tokens and verifying systems
// around the revocations the ApplyAll tests use, one line per verdict, so
// that two indexes compare in one EXPECT_EQ that names any difference.
std::vector<std::string> Verdicts(const RevocationIndex& index) {
  const std::vector<std::vector<std::string>> audiences = {
      {"A"}, {"B"}, {"A", "B"}, {"A", "B", "C"}};
  std::vector<std::string> verdicts;
  for (const char* subject : {"alice", "bob", "carol"}) {
    for (const char* token_id : {"jti-1", "jti-2"}) {
      for (const char* session_id : {"sid-1", "sid-2"}) {
        for (int64_t iat : {kIat - 2, kIat - 1, kIat, kIat + 1, kIat + 2}) {
          for (const std::vector<std::string>& audience : audiences) {
            JwtClaims claims = Claims(audience, iat, subject);
            claims.token_id = token_id;
            claims.session_id = session_id;
            for (const std::string& system : audience) {
              verdicts.push_back(absl::StrCat(
                  subject, " ", token_id, " ", session_id, " iat ", iat, " at ",
                  system, ": ", ReasonName(index.Check(claims, system))));
            }
          }
        }
      }
    }
  }
  return verdicts;
}

// A batch with every scope, the same keys more than once with looser and
// stricter bounds in both orders, and seqs out of order.
std::vector<Revocation> MixedBatch() {
  std::vector<Revocation> batch = {
      TokenRevocation("jti-2", kIat),
      SessionRevocation("sid-2", kIat + 1),
      SessionRevocation("sid-2", kIat - 1),
      SystemRevocation("alice", "A", kIat),
      SystemRevocation("alice", "B", kIat + 2),
      SystemRevocation("alice", "A", kIat + 1),
      SubjectRevocation("bob", kIat - 1),
      SubjectRevocation("bob", kIat + 2),
      SystemRevocation("carol", "C", kIat + 1),
      SubjectRevocation("carol", kIat),
  };
  uint64_t seq = 40;
  for (size_t i = 0; i < batch.size(); ++i) {
    // 40, 39, 42, 37, ..., 48, 31: the highest is not the last.
    batch[i].seq = i % 2 == 0 ? seq + i : seq - i;
    batch[i].expires_at =
        kStart +
        absl::Minutes(static_cast<int64_t>(1 + (i * 7) % batch.size()));
  }
  return batch;
}

TEST(RevocationIndexTest, ApplyAllAppliesEveryRevocationOfTheBatch) {
  const std::vector<Revocation> batch = {
      TokenRevocation("jti-1", kIat + 1),
      SessionRevocation("sid-1", kIat + 1),
      SystemRevocation("alice", "A", kIat + 1),
      SubjectRevocation("bob", kIat + 1),
  };
  RevocationIndex index;
  const uint64_t generation = index.generation();
  index.ApplyAll(batch);
  EXPECT_NE(index.generation(), generation);
  EXPECT_EQ(index.size(), 4u);

  // Each revocation is found on its own: the token that each one alone
  // covers carries ids no other revocation of the batch names.
  JwtClaims by_token = Claims({"B"}, kIat, "dave");
  by_token.session_id = "sid-other";
  EXPECT_EQ(index.Check(by_token, "B"), Reason::kTokenRevoked);
  JwtClaims by_session = Claims({"B"}, kIat, "dave");
  by_session.token_id = "jti-other";
  EXPECT_EQ(index.Check(by_session, "B"), Reason::kSessionRevoked);
  JwtClaims by_system = Claims({"A"}, kIat, "alice");
  by_system.token_id = "jti-other";
  by_system.session_id = "sid-other";
  EXPECT_EQ(index.Check(by_system, "A"), Reason::kLoggedOut);
  JwtClaims by_subject = Claims({"A"}, kIat, "bob");
  by_subject.token_id = "jti-other";
  by_subject.session_id = "sid-other";
  EXPECT_EQ(index.Check(by_subject, "A"), Reason::kLoggedOutAll);
}

TEST(RevocationIndexTest, ApplyAllGivesTheResultsOfApplyOneByOne) {
  const std::vector<Revocation> batch = MixedBatch();
  RevocationIndex one_by_one;
  for (const Revocation& r : batch) one_by_one.Apply(r);
  RevocationIndex batched;
  batched.ApplyAll(batch);

  ASSERT_EQ(batched.size(), one_by_one.size());
  EXPECT_EQ(batched.last_seq(), one_by_one.last_seq());
  EXPECT_EQ(batched.last_seq(), 48u);
  const std::vector<std::string> expected = Verdicts(one_by_one);
  EXPECT_EQ(Verdicts(batched), expected);
  // The revocations did cover something: the comparison is not between
  // two indexes that find every token valid.
  EXPECT_GT(std::count_if(expected.begin(), expected.end(),
                          [](const std::string& verdict) {
                            return !absl::EndsWith(verdict, ": VALID");
                          }),
            0);

  // Both kept the same expiry per key: they shrink alike as time passes.
  for (int minute = 1; minute <= 11; ++minute) {
    SCOPED_TRACE(absl::StrCat("pruned at minute ", minute));
    one_by_one.Prune(kStart + absl::Minutes(minute));
    batched.Prune(kStart + absl::Minutes(minute));
    EXPECT_EQ(batched.size(), one_by_one.size());
    EXPECT_EQ(Verdicts(batched), Verdicts(one_by_one));
  }
  EXPECT_EQ(batched.size(), 0u);
}

TEST(RevocationIndexTest, ApplyAllOnTopOfAppliedRevocations) {
  const std::vector<Revocation> batch = MixedBatch();
  // The first half one by one, the rest as a batch, against all of it one
  // by one.
  const size_t half = batch.size() / 2;
  RevocationIndex mixed;
  for (size_t i = 0; i < half; ++i) mixed.Apply(batch[i]);
  mixed.ApplyAll(absl::MakeConstSpan(batch).subspan(half));
  RevocationIndex one_by_one;
  for (const Revocation& r : batch) one_by_one.Apply(r);

  EXPECT_EQ(mixed.size(), one_by_one.size());
  EXPECT_EQ(mixed.last_seq(), one_by_one.last_seq());
  EXPECT_EQ(Verdicts(mixed), Verdicts(one_by_one));
}

TEST(RevocationIndexTest, ApplyAllOfAnEmptyBatchChangesNothing) {
  RevocationIndex empty;
  empty.ApplyAll({});
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.last_seq(), 0u);
  EXPECT_EQ(empty.Check(Claims({"A"}), "A"), Reason::kValid);

  RevocationIndex index;
  index.ApplyAll(MixedBatch());
  const size_t size = index.size();
  const uint64_t last_seq = index.last_seq();
  const std::vector<std::string> verdicts = Verdicts(index);
  index.ApplyAll({});
  index.ApplyAll(std::vector<Revocation>());
  EXPECT_EQ(index.size(), size);
  EXPECT_EQ(index.last_seq(), last_seq);
  EXPECT_EQ(Verdicts(index), verdicts);
}

TEST(RevocationIndexTest, ApplyAllMergesRevocationsOfTheSameKey) {
  // The same subject logged out three times in one batch: the latest
  // not_before and the latest expiry are kept, in whatever order they come.
  Revocation early = SubjectRevocation("alice", kIat - 1);
  early.seq = 1;
  early.expires_at = kStart + absl::Minutes(10);
  Revocation late = SubjectRevocation("alice", kIat + 1);
  late.seq = 2;
  late.expires_at = kStart + absl::Minutes(5);
  Revocation middle = SubjectRevocation("alice", kIat);
  middle.seq = 3;
  middle.expires_at = kStart + absl::Minutes(1);

  for (const std::vector<Revocation>& batch :
       {std::vector<Revocation>{early, late, middle},
        std::vector<Revocation>{middle, late, early},
        std::vector<Revocation>{late, early, middle}}) {
    SCOPED_TRACE(absl::StrCat("seqs in order ", batch[0].seq, batch[1].seq,
                              batch[2].seq));
    RevocationIndex index;
    index.ApplyAll(batch);
    EXPECT_EQ(index.size(), 1u);
    EXPECT_EQ(index.last_seq(), 3u);
    // Covered up to the latest not_before (kIat + 1), exclusive.
    EXPECT_EQ(index.Check(Claims({"A"}, kIat), "A"), Reason::kLoggedOutAll);
    EXPECT_EQ(index.Check(Claims({"A"}, kIat + 1), "A"), Reason::kValid);
    // Kept until the latest expiry, though that came with the earliest
    // not_before.
    index.Prune(kStart + absl::Minutes(7));
    EXPECT_EQ(index.size(), 1u);
    EXPECT_EQ(index.Check(Claims({"A"}, kIat), "A"), Reason::kLoggedOutAll);
    index.Prune(kStart + absl::Minutes(10));
    EXPECT_EQ(index.size(), 0u);
  }

  // Within one batch a key of one scope does not merge with the same
  // string under another scope.
  RevocationIndex index;
  Revocation session = SessionRevocation("alice", kIat + 1);
  Revocation subject = SubjectRevocation("alice", kIat - 1);
  index.ApplyAll({session, subject});
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Check(Claims({"A"}, kIat), "A"), Reason::kValid);
}

TEST(RevocationIndexTest, TokenIssuedAfterLogoutIsValid) {
  RevocationIndex index;
  index.Apply(SystemRevocation("alice", "A", kIat));
  EXPECT_EQ(index.Check(Claims({"A"}, kIat - 1), "A"), Reason::kLoggedOut);
  EXPECT_EQ(index.Check(Claims({"A"}, kIat + 1), "A"), Reason::kValid);
}

TEST(RevocationIndexTest, ApplyingTwiceChangesNothing) {
  const std::vector<Revocation> revocations = {
      TokenRevocation("jti-1", kIat + 1),
      SessionRevocation("sid-2", kIat + 1),
      SubjectRevocation("bob", kIat + 1),
      SystemRevocation("alice", "A", kIat + 1),
  };
  RevocationIndex index;
  uint64_t seq = 0;
  for (Revocation r : revocations) {
    r.seq = ++seq;
    index.Apply(r);
  }
  const size_t size = index.size();
  const Reason before_a = index.Check(Claims({"A", "B"}, kIat, "alice"), "A");
  const Reason before_bob = index.Check(Claims({"A"}, kIat, "bob"), "A");

  seq = 0;
  for (Revocation r : revocations) {
    r.seq = ++seq;
    index.Apply(r);
  }
  EXPECT_EQ(index.size(), size);
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.last_seq(), 4u);
  EXPECT_EQ(index.Check(Claims({"A", "B"}, kIat, "alice"), "A"), before_a);
  EXPECT_EQ(index.Check(Claims({"A"}, kIat, "bob"), "A"), before_bob);
}

TEST(RevocationIndexTest, LastSeqIsTheHighestApplied) {
  RevocationIndex index;
  EXPECT_EQ(index.last_seq(), 0u);
  for (uint64_t seq : {5u, 3u, 9u, 7u}) {
    Revocation r = SubjectRevocation(absl::StrCat("user-", seq), kIat);
    r.seq = seq;
    index.Apply(r);
  }
  EXPECT_EQ(index.last_seq(), 9u);
}

TEST(RevocationIndexTest, PruneDropsExpiredEntries) {
  FakeClock clock(kStart);
  RevocationIndex index;
  auto expiring = [](Revocation r, absl::Duration ttl) {
    r.expires_at = kStart + ttl;
    return r;
  };
  index.Apply(expiring(TokenRevocation("jti-1", kIat), absl::Minutes(1)));
  index.Apply(expiring(SessionRevocation("sid-1", kIat + 1), absl::Minutes(2)));
  index.Apply(
      expiring(SystemRevocation("alice", "A", kIat + 1), absl::Minutes(3)));
  index.Apply(expiring(SubjectRevocation("bob", kIat + 1), absl::Minutes(4)));
  ASSERT_EQ(index.size(), 4u);

  index.Prune(clock.Now());
  EXPECT_EQ(index.size(), 4u);

  // An entry is garbage at its expires_at exactly.
  clock.Advance(absl::Minutes(1));
  index.Prune(clock.Now());
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.Check(Claims({"B"}), "B"), Reason::kSessionRevoked);

  clock.Advance(absl::Seconds(90));
  index.Prune(clock.Now());
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Check(Claims({"A"}), "A"), Reason::kLoggedOut);

  clock.Set(kStart + absl::Hours(2));
  index.Prune(clock.Now());
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.Check(Claims({"A"}), "A"), Reason::kValid);
  EXPECT_EQ(index.Check(Claims({"A"}, kIat, "bob"), "A"), Reason::kValid);
}

TEST(RevocationIndexTest, MergeKeepsTheLatestExpiry) {
  RevocationIndex index;
  Revocation longer = SubjectRevocation("alice", kIat + 1);
  longer.expires_at = kStart + absl::Minutes(10);
  Revocation shorter = SubjectRevocation("alice", kIat + 2);
  shorter.expires_at = kStart + absl::Minutes(5);
  index.Apply(longer);
  index.Apply(shorter);
  index.Prune(kStart + absl::Minutes(7));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Check(Claims({"A"}), "A"), Reason::kLoggedOutAll);
}

TEST(RevocationIndexTest, ConcurrentApplyAndCheck) {
  constexpr int kWriters = 4;
  constexpr int kReaders = 3;
  constexpr int kPerWriter = 250;
  auto subject = [](int writer, int i) {
    return absl::StrCat("user-", writer, "-", i);
  };

  RevocationIndex index;
  std::atomic<int> bad_verdicts{0};
  std::atomic<int> resurrected{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        Revocation r = SubjectRevocation(subject(w, i), kIat + 1);
        r.seq = static_cast<uint64_t>(w * kPerWriter + i + 1);
        index.Apply(r);
        index.Apply(SystemRevocation(subject(w, i), "A", kIat + 1));
      }
    });
  }
  for (int reader = 0; reader < kReaders; ++reader) {
    threads.emplace_back([&] {
      std::vector<bool> seen_revoked(kWriters * kPerWriter, false);
      for (int round = 0; round < 20; ++round) {
        for (int w = 0; w < kWriters; ++w) {
          for (int i = 0; i < kPerWriter; ++i) {
            int slot = w * kPerWriter + i;
            Reason got = index.Check(Claims({"A"}, kIat, subject(w, i)), "A");
            bool revoked = got != Reason::kValid;
            if (revoked && got != Reason::kLoggedOutAll) ++bad_verdicts;
            if (seen_revoked[slot] && !revoked) ++resurrected;
            if (revoked) seen_revoked[slot] = true;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(bad_verdicts.load(), 0);
  EXPECT_EQ(resurrected.load(), 0);
  EXPECT_EQ(index.size(), static_cast<size_t>(2 * kWriters * kPerWriter));
  EXPECT_EQ(index.last_seq(), static_cast<uint64_t>(kWriters * kPerWriter));
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kPerWriter; ++i) {
      SCOPED_TRACE(subject(w, i));
      EXPECT_EQ(index.Check(Claims({"A"}, kIat, subject(w, i)), "A"),
                Reason::kLoggedOutAll);
      EXPECT_EQ(index.Check(Claims({"A"}, kIat + 1, subject(w, i)), "A"),
                Reason::kValid);
    }
  }
}

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock(kStart);
  EXPECT_EQ(clock.Now(), kStart);
  EXPECT_EQ(clock.Now(), kStart);
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_EQ(clock.Now(), kStart + absl::Milliseconds(1500));
  clock.Set(kStart - absl::Hours(1));
  EXPECT_EQ(clock.Now(), kStart - absl::Hours(1));
}

TEST(ClockTest, RealClockIsOneLongLivedWallClock) {
  const Clock& a = RealClock();
  const Clock& b = RealClock();
  EXPECT_EQ(&a, &b);
  const absl::Time before = absl::Now();
  const absl::Time now = a.Now();
  const absl::Time after = absl::Now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
}

}  // namespace
}  // namespace sigil::token
