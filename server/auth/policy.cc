#include "server/auth/policy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "sigil/v1/policy.pb.h"
#include "token/json.h"

namespace sigil::server::auth {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

// SPIFFE IDs are at most 2048 bytes; DNS names far less.
constexpr size_t kMaxPrincipalBytes = 2048;
// The rule of server/validation.h's ValidateSystem, so that a policy cannot
// name a system that no request can.
constexpr size_t kMaxSystemBytes = 128;

std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(s), "\"");
}

// URI and DNS SANs are IA5String, and the ones a CA issues are printable
// ASCII: anything else in a policy is a mistake (or a look-alike).
bool IsPrincipalChar(char c) { return c > ' ' && c < 0x7f; }

bool IsSystemChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
         c == '/' || c == '-';
}

// Empty when `system` is a valid system name, else what is wrong with it.
std::string SystemProblem(absl::string_view system) {
  if (system.empty()) return "is empty";
  if (system.size() > kMaxSystemBytes) {
    return absl::StrCat("is longer than ", kMaxSystemBytes, " bytes");
  }
  for (char c : system) {
    if (!IsSystemChar(c)) {
      return absl::StrCat(Quote(system),
                          " may hold only letters, digits and . _ : / -");
    }
  }
  return "";
}

// The kind of identity a principal names, by its form: the two bracketed
// labels, "unix-uid:" and a uid, a URI (a DNS name has no ':'), else a DNS
// name. Empty `problem` when the form is valid.
IdentityKind KindOfPrincipal(absl::string_view principal,
                             std::string* problem) {
  if (principal == kAnonymousPrincipal) return IdentityKind::kAnonymous;
  if (absl::StartsWith(principal, kUnixUidPrefix)) {
    const absl::string_view digits =
        principal.substr(sizeof(kUnixUidPrefix) - 1);
    uint32_t uid = 0;
    // One spelling per uid ("unix-uid:1000", never "unix-uid:01000"), as
    // UnixPeerCaller writes it.
    const bool canonical =
        !digits.empty() && (digits == "0" || digits[0] != '0') &&
        digits.find_first_not_of("0123456789") == absl::string_view::npos &&
        absl::SimpleAtoi(digits, &uid);
    if (!canonical) {
      *problem = absl::StrCat(" is not \"", kUnixUidPrefix,
                              "\" followed by a decimal uid");
    }
    return IdentityKind::kUnixUid;
  }
  if (absl::StrContains(principal, ':')) return IdentityKind::kUri;
  return IdentityKind::kDns;
}

// The index in Policy::grants_ of the principals of `kind`; -1 for the dev
// label, which no grant can name.
int GrantIndex(IdentityKind kind) {
  switch (kind) {
    case IdentityKind::kUri:
      return 0;
    case IdentityKind::kDns:
      return 1;
    case IdentityKind::kUnixUid:
      return 2;
    case IdentityKind::kAnonymous:
      return 3;
    case IdentityKind::kInsecureDev:
      break;
  }
  return -1;
}

absl::Status ReadFile(const std::string& path, std::string* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open policy ", path));
  }
  char buffer[1 << 14];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return absl::ErrnoToStatus(error,
                                 absl::StrCat("cannot read policy ", path));
    }
    out->append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return absl::OkStatus();
}

// Keeps the first error only: later ones are usually its consequences.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) {
      error_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::Status ParseText(const std::string& path, const std::string& text,
                       sigil::v1::Policy* policy,
                       TextFormat::ParseInfoTree* locations) {
  FirstError errors;
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(locations);
  if (!parser.ParseFromString(text, policy)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", errors.error()));
  }
  return absl::OkStatus();
}

absl::Status ParseJsonPolicy(const std::string& path, const std::string& text,
                             sigil::v1::Policy* policy) {
  // Protobuf's JSON parser lets a repeated name override the first one; the
  // strict parser refuses it (and invalid UTF-8) first.
  token::JsonLimits limits;
  limits.max_bytes = text.size();
  limits.max_depth = 16;
  if (auto parsed = token::ParseJson(text, limits); !parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", parsed.status().message()));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status =
      google::protobuf::util::JsonStringToMessage(text, policy, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", std::string(status.message())));
  }
  return absl::OkStatus();
}

enum class PolicyFormat { kText, kJson };

// The format the file name's extension names.
absl::StatusOr<PolicyFormat> FormatOf(const std::string& path) {
  if (absl::EndsWith(path, ".textproto") || absl::EndsWith(path, ".txtpb") ||
      absl::EndsWith(path, ".pbtxt")) {
    return PolicyFormat::kText;
  }
  if (absl::EndsWith(path, ".json")) return PolicyFormat::kJson;
  return absl::InvalidArgumentError(absl::StrCat(
      path,
      ": unknown policy format: name the file *.textproto, *.txtpb, "
      "*.pbtxt (text format) or *.json"));
}

// Error prefixes: "FILE:LINE: " for text format, where the parser recorded
// where each field was, and "FILE: " for JSON.
class Where {
 public:
  using Step = std::pair<const FieldDescriptor*, int>;  // field, index or -1

  Where(const std::string& path, const TextFormat::ParseInfoTree* locations)
      : path_(path), locations_(locations) {}

  // The line (1-based) of the deepest field along `steps` that the text
  // names, or 0 when unknown (JSON).
  int Line(absl::Span<const Step> steps) const {
    int line = -1;
    const TextFormat::ParseInfoTree* tree = locations_;
    for (const Step& step : steps) {
      if (tree == nullptr) break;
      const int here = tree->GetLocation(step.first, step.second).line;
      if (here >= 0) line = here;
      tree = step.first->type() == FieldDescriptor::TYPE_MESSAGE
                 ? tree->GetTreeForNested(step.first, step.second)
                 : nullptr;
    }
    return line + 1;
  }

  std::string At(absl::Span<const Step> steps) const {
    const int line = Line(steps);
    if (line == 0) return absl::StrCat(path_, ": ");
    return absl::StrCat(path_, ":", line, ": ");
  }

 private:
  const std::string& path_;
  const TextFormat::ParseInfoTree* locations_;
};

// Checks a policy's grants one after another, in order. An error is
// INVALID_ARGUMENT naming the place ("FILE:LINE: " or "FILE: "), the grant
// ("grants[i]") and the field that is wrong.
class GrantChecker {
 public:
  GrantChecker(const Where& where, Policy::Reader reader)
      : where_(where),
        reader_(reader),
        grants_(sigil::v1::Policy::descriptor()->FindFieldByName("grants")),
        principal_(
            sigil::v1::Grant::descriptor()->FindFieldByName("principal")),
        issuer_(sigil::v1::Grant::descriptor()->FindFieldByName("issuer")),
        system_(sigil::v1::Grant::descriptor()->FindFieldByName("system")),
        issuer_systems_(
            sigil::v1::IssuerRole::descriptor()->FindFieldByName("systems")),
        system_name_(
            sigil::v1::SystemRole::descriptor()->FindFieldByName("name")) {}

  // grants[index]: its principal, that no earlier grant names the same
  // one, that it grants some role, and the systems its roles name.
  absl::Status Check(int index, const sigil::v1::Grant& grant) {
    if (absl::Status status = CheckPrincipal(index, grant.principal());
        !status.ok()) {
      return status;
    }
    if (absl::Status status = CheckFirstGrant(index, grant.principal());
        !status.ok()) {
      return status;
    }
    // `agent` is no role: it only lets sigild record whom a call is for.
    if (!grant.has_issuer() && !grant.has_system() && !grant.admin()) {
      return Error(index, {AtGrant(index)},
                   absl::StrCat(" (", Quote(grant.principal()),
                                ") grants no role: set issuer, system or "
                                "admin"));
    }
    if (grant.has_issuer()) {
      if (absl::Status status = CheckIssuerRole(index, grant.issuer());
          !status.ok()) {
        return status;
      }
    }
    if (grant.has_system()) return CheckSystemRole(index, grant.system());
    return absl::OkStatus();
  }

 private:
  Where::Step AtGrant(int index) const { return {grants_, index}; }

  absl::Status Error(int index, absl::Span<const Where::Step> steps,
                     absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(where_.At(steps), "grants[", index, "]", message));
  }

  // Not empty, not too long, and only the characters a URI or DNS SAN
  // can hold.
  absl::Status CheckPrincipal(int index, const std::string& principal) const {
    const Where::Step at[] = {AtGrant(index), {principal_, -1}};
    if (principal.empty()) return Error(index, at, ".principal is empty");
    if (principal.size() > kMaxPrincipalBytes) {
      return Error(index, at,
                   absl::StrCat(".principal is longer than ",
                                kMaxPrincipalBytes, " bytes"));
    }
    for (char c : principal) {
      if (!IsPrincipalChar(c)) {
        return Error(index, at,
                     absl::StrCat(".principal ", Quote(principal),
                                  " may hold only printable ASCII without "
                                  "spaces, as a URI or DNS name does"));
      }
    }
    std::string problem;
    const IdentityKind kind = KindOfPrincipal(principal, &problem);
    if (!problem.empty()) {
      return Error(index, at,
                   absl::StrCat(".principal ", Quote(principal), problem));
    }
    // sigild knows its callers by certificate only (it refuses the others
    // before reading grants): such a grant could never match there.
    if (reader_ == Policy::Reader::kSigild &&
        (kind == IdentityKind::kUnixUid || kind == IdentityKind::kAnonymous)) {
      return Error(
          index, at,
          absl::StrCat(".principal ", Quote(principal),
                       " names a caller only sigil-agent can see; sigild "
                       "knows callers by their certificate's URI or DNS "
                       "subject alternative name"));
    }
    return absl::OkStatus();
  }

  // One grant per principal, holding all its roles: a second one is
  // refused, naming the first.
  absl::Status CheckFirstGrant(int index, const std::string& principal) {
    const auto [it, fresh] = first_grant_.emplace(principal, index);
    if (fresh) return absl::OkStatus();
    const int first_line = where_.Line({AtGrant(it->second)});
    return Error(
        index, {AtGrant(index), {principal_, -1}},
        absl::StrCat(
            ".principal ", Quote(principal), " already has a grant: grants[",
            it->second, "]",
            first_line == 0 ? "" : absl::StrCat(" at line ", first_line),
            "; give each principal one grant with all its roles"));
  }

  // At least one system, each a valid name and listed once.
  absl::Status CheckIssuerRole(int index,
                               const sigil::v1::IssuerRole& issuer) const {
    const Where::Step at_issuer{issuer_, -1};
    if (issuer.systems().empty()) {
      return Error(index, {AtGrant(index), at_issuer},
                   ".issuer lists no systems: name the systems it may "
                   "issue for");
    }
    absl::flat_hash_set<absl::string_view> seen;
    for (int k = 0; k < issuer.systems_size(); ++k) {
      const std::string& system = issuer.systems(k);
      const Where::Step at[] = {
          AtGrant(index), at_issuer, {issuer_systems_, k}};
      if (std::string problem = SystemProblem(system); !problem.empty()) {
        return Error(index, at,
                     absl::StrCat(".issuer.systems[", k, "] ", problem));
      }
      if (!seen.insert(system).second) {
        return Error(index, at,
                     absl::StrCat(".issuer.systems[", k, "] ", Quote(system),
                                  " is listed twice"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckSystemRole(int index,
                               const sigil::v1::SystemRole& system) const {
    if (std::string problem = SystemProblem(system.name()); !problem.empty()) {
      return Error(index, {AtGrant(index), {system_, -1}, {system_name_, -1}},
                   absl::StrCat(".system.name ", problem));
    }
    return absl::OkStatus();
  }

  const Where& where_;
  const Policy::Reader reader_;
  const FieldDescriptor* const grants_;
  const FieldDescriptor* const principal_;
  const FieldDescriptor* const issuer_;
  const FieldDescriptor* const system_;
  const FieldDescriptor* const issuer_systems_;
  const FieldDescriptor* const system_name_;
  absl::flat_hash_map<std::string, int> first_grant_;  // principal -> index
};

}  // namespace

const Policy::Roles* Policy::Find(const Identity& identity) const {
  const int kind = GrantIndex(identity.kind);
  if (kind < 0) return nullptr;
  const auto it = grants_[kind].find(identity.name);
  return it == grants_[kind].end() ? nullptr : &it->second;
}

template <typename HasRight, typename Lack>
absl::Status Policy::Check(const Caller& caller, HasRight has_right,
                           Lack lack) const {
  if (allow_all_) return absl::OkStatus();
  if (!caller.refusal.empty()) {
    return absl::UnauthenticatedError(caller.refusal);
  }
  // An anonymous caller is a principal of its own (sigil-agent's plain
  // callers): refused below unless a grant names it.
  const bool anonymous = caller.identities.size() == 1 &&
                         caller.identities[0].kind == IdentityKind::kAnonymous;
  if (!caller.authenticated && !anonymous) {
    return absl::UnauthenticatedError(
        "caller presented no verified client certificate with a URI or DNS "
        "subject alternative name");
  }
  for (const Identity& identity : caller.identities) {
    const Roles* roles = Find(identity);
    if (roles == nullptr) continue;
    if (roles->admin || has_right(*roles)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("caller ", Quote(PrincipalOf(caller)), " ", lack()));
}

absl::StatusOr<Policy> Policy::Load(const std::string& path, Reader reader) {
  std::string text;
  if (absl::Status status = ReadFile(path, &text); !status.ok()) {
    return status;
  }
  absl::StatusOr<PolicyFormat> format = FormatOf(path);
  if (!format.ok()) return format.status();
  sigil::v1::Policy proto;
  TextFormat::ParseInfoTree locations;
  const absl::Status parsed = *format == PolicyFormat::kText
                                  ? ParseText(path, text, &proto, &locations)
                                  : ParseJsonPolicy(path, text, &proto);
  if (!parsed.ok()) return parsed;

  // Only text format records where each field was.
  const Where where(path,
                    *format == PolicyFormat::kText ? &locations : nullptr);
  GrantChecker checker(where, reader);
  Policy policy;
  for (int i = 0; i < proto.grants_size(); ++i) {
    const sigil::v1::Grant& grant = proto.grants(i);
    if (absl::Status valid = checker.Check(i, grant); !valid.ok()) {
      return valid;
    }
    Roles roles;
    roles.issuer_for.insert(grant.issuer().systems().begin(),
                            grant.issuer().systems().end());
    if (grant.has_system()) roles.system = grant.system().name();
    roles.admin = grant.admin();
    roles.agent = grant.agent();
    std::string unused;  // CheckPrincipal refused every problem
    const int kind = GrantIndex(KindOfPrincipal(grant.principal(), &unused));
    policy.grants_[kind].emplace(grant.principal(), std::move(roles));
  }
  return policy;
}

Policy Policy::AllowAll() {
  Policy policy;
  policy.allow_all_ = true;
  return policy;
}

Policy Policy::DenyAll() { return Policy(); }

absl::Status Policy::CheckIssuer(const Caller& caller,
                                 absl::Span<const std::string> systems,
                                 absl::string_view verb) const {
  if (systems.empty()) {
    return Check(
        caller, [](const Roles& roles) { return !roles.issuer_for.empty(); },
        [&] {
          return absl::StrCat("may not ", verb, ": it holds no issuer grant");
        });
  }
  for (const std::string& system : systems) {
    absl::Status status = Check(
        caller,
        [&](const Roles& roles) { return roles.issuer_for.contains(system); },
        [&] {
          return absl::StrCat("may not ", verb, " for system ", Quote(system),
                              ": it holds no issuer grant for it");
        });
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Policy::MayIssue(const Caller& caller,
                              absl::Span<const std::string> systems) const {
  return CheckIssuer(caller, systems, "issue");
}

absl::Status Policy::MayRefresh(const Caller& caller,
                                absl::Span<const std::string> systems) const {
  return CheckIssuer(caller, systems, "refresh");
}

absl::Status Policy::MayVerify(const Caller& caller,
                               absl::string_view system) const {
  return Check(
      caller, [&](const Roles& roles) { return roles.system == system; },
      [&] {
        return absl::StrCat("may not verify for system ", Quote(system),
                            ": it holds no system grant for it");
      });
}

absl::Status Policy::MayLogoutFromSystem(const Caller& caller,
                                         absl::string_view system) const {
  return Check(
      caller, [&](const Roles& roles) { return roles.system == system; },
      [&] {
        return absl::StrCat("may not log subjects out of system ",
                            Quote(system), ": it holds no system grant for it");
      });
}

absl::Status Policy::MayActForTokenAudience(
    const Caller& caller, absl::Span<const std::string> audience) const {
  return Check(
      caller,
      [&](const Roles& roles) {
        if (roles.system.empty()) return false;
        for (const std::string& system : audience) {
          if (roles.system == system) return true;
        }
        return false;
      },
      [&] {
        return absl::StrCat(
            "may not act on a token for ",
            absl::StrJoin(audience, ", ",
                          [](std::string* out, const std::string& system) {
                            out->append(Quote(system));
                          }),
            ": it holds no system grant for any of them");
      });
}

absl::Status Policy::MayWatch(const Caller& caller) const {
  return Check(
      caller, [](const Roles& roles) { return !roles.system.empty(); },
      [] { return "may not watch revocations: it holds no system grant"; });
}

absl::Status Policy::IsAdmin(const Caller& caller) const {
  return Check(
      caller, [](const Roles&) { return false; },
      [] { return "is not an admin"; });
}

bool Policy::IsAgent(const Caller& caller) const {
  if (allow_all_ || !caller.authenticated || !caller.refusal.empty()) {
    return false;
  }
  for (const Identity& identity : caller.identities) {
    const Roles* roles = Find(identity);
    if (roles != nullptr && roles->agent) return true;
  }
  return false;
}

}  // namespace sigil::server::auth
