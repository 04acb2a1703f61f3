#include "wire/claims.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "wire/timestamp.h"

namespace sigil::wire {
namespace {

// Found by the wire fuzzer: claims sent with a time past year 9999 were
// accepted, and converting them back for a caller (as sigil-agent does)
// aborted inside protobuf.
TEST(ClaimsTest, TimesOutsideTimestampRangeAreNoClaims) {
  struct Case {
    const char* name;
    int64_t seconds;
    int32_t nanos;
    bool valid;
  };
  const Case cases[] = {
      {"now", 1800000000, 0, true},
      {"last microsecond of year 9999", 253402300799, 999999000, true},
      {"year 10000", 253402300800, 0, false},
      {"before year 1", -62135596801, 0, false},
      {"negative nanos", 1800000000, -1, false},
      {"a whole second of nanos", 1800000000, 1000000000, false},
  };
  for (const Case& c : cases) {
    for (bool on_expiry : {false, true}) {
      SCOPED_TRACE(std::string(c.name) +
                   (on_expiry ? " in expires_at" : " in issued_at"));
      sigil::v1::Claims message;
      message.set_issuer("sigil");
      message.set_subject("alice");
      message.add_audience("A");
      message.mutable_issued_at()->set_seconds(1800000000);
      message.mutable_expires_at()->set_seconds(1800000900);
      google::protobuf::Timestamp* t = on_expiry ? message.mutable_expires_at()
                                                 : message.mutable_issued_at();
      t->set_seconds(c.seconds);
      t->set_nanos(c.nanos);
      std::optional<token::JwtClaims> claims = FromClaims(message);
      ASSERT_EQ(claims.has_value(), c.valid);
      if (!claims.has_value()) continue;
      std::optional<token::JwtClaims> again = FromClaims(ToClaims(*claims));
      ASSERT_TRUE(again.has_value());
      EXPECT_EQ(again->issued_at, claims->issued_at);
      EXPECT_EQ(again->expires_at, claims->expires_at);
      EXPECT_EQ(again->subject, "alice");
    }
  }
}

TEST(ClaimsTest, FromTimestampKeepsMicroseconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(1800000000);
  t.set_nanos(123456789);
  std::optional<absl::Time> time = FromTimestamp(t);
  ASSERT_TRUE(time.has_value());
  EXPECT_EQ(absl::ToUnixMicros(*time), 1800000000123456);
  EXPECT_EQ(ToTimestamp(*time).nanos(), 123456000);
}

}  // namespace
}  // namespace sigil::wire
