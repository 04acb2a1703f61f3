#include "wire/revocation_event.h"

#include <string>

#include "gtest/gtest.h"

namespace sigil::wire {
namespace {

TEST(RevocationEventTest, TimestampsOutOfRangeAreNoEvent) {
  struct Case {
    const char* name;
    int64_t seconds;
    int32_t nanos;
    bool valid;
  };
  const Case cases[] = {
      {"now", 1800000000, 0, true},
      {"last second of year 9999", 253402300799, 999999999, true},
      {"year 10000", 253402300800, 0, false},
      {"before year 1", -62135596801, 0, false},
      {"negative nanos", 1800000000, -1, false},
      {"a whole second of nanos", 1800000000, 1000000000, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (bool on_expiry : {false, true}) {
      sigil::v1::RevocationEvent event;
      event.set_seq(1);
      event.set_scope(sigil::v1::SUBJECT);
      event.set_subject("alice");
      event.mutable_not_before()->set_seconds(1800000000);
      event.mutable_expires_at()->set_seconds(1800003600);
      google::protobuf::Timestamp* t =
          on_expiry ? event.mutable_expires_at() : event.mutable_not_before();
      t->set_seconds(c.seconds);
      t->set_nanos(c.nanos);
      std::optional<token::Revocation> revocation = FromEvent(event);
      EXPECT_EQ(revocation.has_value(), c.valid);
      // What was read back always converts back.
      if (revocation.has_value()) {
        EXPECT_EQ(ToEvent(*revocation).seq(), 1u);
      }
    }
  }
}

}  // namespace
}  // namespace sigil::wire
