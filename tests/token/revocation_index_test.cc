#include "token/revocation_index.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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

TEST(RevocationIndexTest, Precedence) {
  const JwtClaims single = Claims({"A"});
  const JwtClaims multi = Claims({"A", "B", "C"});
  const std::vector<PrecedenceCase> cases = {
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
  for (const PrecedenceCase& c : cases) {
    SCOPED_TRACE(c.name);
    RevocationIndex index;
    for (const Revocation& r : c.revocations) index.Apply(r);
    EXPECT_EQ(ReasonName(index.Check(c.claims, c.system)), ReasonName(c.want));
  }
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
