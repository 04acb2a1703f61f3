#include "wire/revocation_event.h"

#include "wire/timestamp.h"

namespace sigil::wire {
namespace {

sigil::v1::RevocationScope ToProto(token::RevocationScope scope) {
  switch (scope) {
    case token::RevocationScope::kToken:
      return sigil::v1::TOKEN;
    case token::RevocationScope::kSession:
      return sigil::v1::SESSION;
    case token::RevocationScope::kSubjectSystem:
      return sigil::v1::SUBJECT_SYSTEM;
    case token::RevocationScope::kSubject:
      return sigil::v1::SUBJECT;
  }
  return sigil::v1::REVOCATION_SCOPE_UNSPECIFIED;
}

std::optional<token::RevocationScope> FromProto(
    sigil::v1::RevocationScope scope) {
  switch (scope) {
    case sigil::v1::TOKEN:
      return token::RevocationScope::kToken;
    case sigil::v1::SESSION:
      return token::RevocationScope::kSession;
    case sigil::v1::SUBJECT_SYSTEM:
      return token::RevocationScope::kSubjectSystem;
    case sigil::v1::SUBJECT:
      return token::RevocationScope::kSubject;
    default:
      return std::nullopt;
  }
}

}  // namespace

sigil::v1::RevocationEvent ToEvent(const token::Revocation& revocation) {
  sigil::v1::RevocationEvent event;
  event.set_seq(revocation.seq);
  event.set_scope(ToProto(revocation.scope));
  event.set_subject(revocation.subject);
  event.set_system(revocation.system);
  event.set_session_id(revocation.session_id);
  event.set_token_id(revocation.token_id);
  *event.mutable_not_before() =
      ToTimestamp(absl::FromUnixMicros(revocation.not_before_us));
  *event.mutable_expires_at() = ToTimestamp(revocation.expires_at);
  return event;
}

std::optional<token::Revocation> FromEvent(
    const sigil::v1::RevocationEvent& event) {
  std::optional<token::RevocationScope> scope = FromProto(event.scope());
  if (!scope.has_value()) return std::nullopt;
  std::optional<absl::Time> not_before = FromTimestamp(event.not_before());
  std::optional<absl::Time> expires_at = FromTimestamp(event.expires_at());
  if (!not_before.has_value() || !expires_at.has_value()) return std::nullopt;
  token::Revocation revocation;
  revocation.seq = event.seq();
  revocation.scope = *scope;
  revocation.subject = event.subject();
  revocation.system = event.system();
  revocation.session_id = event.session_id();
  revocation.token_id = event.token_id();
  revocation.not_before_us = absl::ToUnixMicros(*not_before);
  revocation.expires_at = *expires_at;
  return revocation;
}

}  // namespace sigil::wire
