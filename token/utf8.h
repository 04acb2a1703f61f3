#ifndef SIGIL_TOKEN_UTF8_H_
#define SIGIL_TOKEN_UTF8_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace sigil::token {

// The length (1-4) of the well-formed UTF-8 sequence starting at
// text[pos] (Unicode table 3-7: no overlong forms, no surrogates, nothing
// above U+10FFFF), or 0 when there is none. ASCII bytes count as length 1.
size_t Utf8SequenceLength(absl::string_view text, size_t pos);

}  // namespace sigil::token

#endif  // SIGIL_TOKEN_UTF8_H_
