#include "token/utf8.h"

namespace sigil::token {

size_t Utf8SequenceLength(absl::string_view text, size_t pos) {
  auto byte = [&](size_t i) -> int {
    return pos + i < text.size() ? static_cast<unsigned char>(text[pos + i])
                                 : -1;
  };
  const int b0 = byte(0);
  if (b0 >= 0 && b0 < 0x80) return 1;
  size_t len;
  int lo = 0x80, hi = 0xbf;  // range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  const int b1 = byte(1);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    const int b = byte(i);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return len;
}

}  // namespace sigil::token
