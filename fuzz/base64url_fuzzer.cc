// Strict base64url on arbitrary bytes: decoding accepts exactly the
// canonical spelling of some bytes (encoding what it decoded gives the
// input back), and every byte string round-trips.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "token/base64url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> decoded = sigil::token::Base64UrlDecode(input);
  if (decoded.ok() && sigil::token::Base64UrlEncode(*decoded) != input) {
    std::abort();
  }
  absl::StatusOr<std::string> round_trip =
      sigil::token::Base64UrlDecode(sigil::token::Base64UrlEncode(input));
  if (!round_trip.ok() || *round_trip != input) std::abort();
  return 0;
}
