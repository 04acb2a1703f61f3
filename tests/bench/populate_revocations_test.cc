// bench/scale/populate_revocations fills a data dir that the store opens
// normally, with every revocation in the table, the event log and the seq.

#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/rocks_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "token/clock.h"
#include "token/jwt.h"
#include "token/reason.h"
#include "token/revocation_index.h"

namespace sigil::bench {
namespace {

using ::sigil::testing::IsOk;

TEST(PopulateRevocationsTest, StoreReadsBackEveryRevocation) {
  testing::TempDir dir;
  const std::string data_dir = dir.Sub("data");
  const std::string command = absl::StrCat(
      SIGIL_BINARY_DIR, "/bench/scale/populate_revocations",
      " --data_dir=", data_dir, " --count=1000 --subject_every=10 >/dev/null");
  ASSERT_EQ(std::system(command.c_str()), 0);

  auto store = server::store::RocksStore::Open(data_dir, &token::RealClock());
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ((*store)->LastSeq(), 1000u);
  auto events = (*store)->ReadEvents(0, 2000);
  ASSERT_THAT(events, IsOk());
  EXPECT_EQ(events->size(), 1000u);

  token::RevocationIndex index;
  int tokens = 0;
  const absl::Status read =
      (*store)->ForEachRevocation([&](const token::Revocation& r) {
        if (r.scope == token::RevocationScope::kToken) ++tokens;
        index.Apply(r);
      });
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(tokens, 900);
  EXPECT_EQ(index.size(), 1000u);

  // A token of a subject the tool logged out from A, issued before it ran.
  token::JwtClaims claims;
  claims.subject = "scale-user-1";
  claims.audience = {"A", "B"};
  claims.token_id = "not-revoked-itself";
  claims.session_id = "some-session";
  claims.issued_at_us = 1;
  EXPECT_EQ(index.Check(claims, "A"), token::Reason::kLoggedOutOfSystem);
  claims.subject = "someone-else";
  EXPECT_EQ(index.Check(claims, "A"), token::Reason::kValid);
}

}  // namespace
}  // namespace sigil::bench
