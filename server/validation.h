#ifndef SIGIL_SERVER_VALIDATION_H_
#define SIGIL_SERVER_VALIDATION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sigil::server {

// Request field checks. Each returns INVALID_ARGUMENT with a message naming
// the field and what is wrong, so a caller can fix the request.

// 1-256 bytes of UTF-8 without control characters.
absl::Status ValidateSubject(absl::string_view subject);

// 1-128 bytes of [A-Za-z0-9._:/-]: a system name ends up in "aud" and in
// storage keys, so it stays plain.
absl::Status ValidateSystem(absl::string_view system);

// An RFC 6749 scope-token: 1-128 printable ASCII characters other than
// space, '"' and '\'.
absl::Status ValidateScope(absl::string_view scope);

// An Issue request's names: a valid subject, 1-32 distinct valid systems
// and at most 64 valid scopes (bounds that keep a token under the
// verifiers' size cap in the common case).
absl::Status ValidateIssue(absl::string_view subject,
                           absl::Span<const std::string> systems,
                           absl::Span<const std::string> scopes);

}  // namespace sigil::server

#endif  // SIGIL_SERVER_VALIDATION_H_
