// The strict JSON parser on arbitrary bytes. Beyond not crashing: whatever
// it accepts serializes to text it accepts again, and that serialization is
// a fixed point, so no value has two readings.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "token/json.h"

namespace sigil::token {
namespace {

// Reads every number the way the JWT layer does; must never crash.
void ReadNumbers(const JsonValue& value) {
  switch (value.type()) {
    case JsonValue::Type::kNumber:
      value.AsInt64();
      return;
    case JsonValue::Type::kArray:
      for (const JsonValue& item : value.items()) ReadNumbers(item);
      return;
    case JsonValue::Type::kObject:
      for (const JsonValue::Member& member : value.members()) {
        if (value.Find(member.first) != &member.second) std::abort();
        ReadNumbers(member.second);
      }
      return;
    default:
      return;
  }
}

void CheckInput(absl::string_view text, const JsonLimits& limits) {
  absl::StatusOr<JsonValue> value = ParseJson(text, limits);
  if (!value.ok()) return;
  ReadNumbers(*value);
  const std::string serialized = value->Serialize();
  // Serializing never lengthens the text, so the same limits hold.
  absl::StatusOr<JsonValue> again = ParseJson(serialized, limits);
  if (!again.ok() || again->Serialize() != serialized) std::abort();
}

}  // namespace
}  // namespace sigil::token

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  sigil::token::CheckInput(text, sigil::token::JsonLimits());
  // The JOSE header's and the JWK Set's tighter limits.
  sigil::token::CheckInput(text, sigil::token::JsonLimits{4 * 1024, 4});
  return 0;
}
